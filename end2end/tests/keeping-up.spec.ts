import { test, expect, type Page } from '@playwright/test';
import { send, twoInARoom, unique, waitConnected } from './helpers';

/** Creates a room from the home page and waits in it. Its URL. */
async function createRoom(page: Page, name: string): Promise<string> {
  await page.goto('/');
  await page.getByLabel('Room name').fill(name);
  await page.getByRole('button', { name: 'Create room' }).click();
  await expect(page.getByRole('heading', { name })).toBeVisible();
  await waitConnected(page);
  return page.url();
}

/** The sidebar's link to a room, by its exact accessible name. */
function roomLink(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Rooms' }).getByRole('link', { name, exact: true });
}

test('the sidebar moves between rooms on one socket and counts what is unread, mentions apart', async ({ browser }) => {
  const { alice, bob, bobName, room: first, close } = await twoInARoom(browser, 'Side');
  const second = unique('Other');
  const secondUrl = await createRoom(alice, second);
  await bob.goto(secondUrl);
  await waitConnected(bob);

  // From here on, Bob's page is never loaded again: every socket and every
  // room page it fetches is counted.
  let sockets = 0;
  let roomFetches = 0;
  bob.on('websocket', () => sockets++);
  bob.on('request', (request) => {
    if (request.url().includes('/api/room')) roomFetches++;
  });
  await bob.evaluate(() => ((window as unknown as { stayed: boolean }).stayed = true));

  await roomLink(bob, first).click();
  await expect(bob.getByRole('heading', { name: first })).toBeVisible();
  await waitConnected(bob);
  await expect(bob).toHaveURL(/\/rooms\/\d+$/);
  expect(bob.url()).not.toBe(secondUrl);
  await expect(roomLink(bob, first)).toHaveAttribute('aria-current', 'page');

  // Alice talks in the other room, naming Bob once: his sidebar counts it live.
  await send(alice, 'one');
  await send(alice, `two for @${bobName} here`);
  await send(alice, 'three');
  await expect(roomLink(bob, `${second}, 3 unread, 1 mention`)).toBeVisible();
  await expect(bob).toHaveTitle(`(3) ${first} · Natter`);

  // Back in it: "New messages" above the first unread one; once seen, all is read.
  await roomLink(bob, `${second}, 3 unread, 1 mention`).click();
  await expect(bob.getByRole('heading', { name: second })).toBeVisible();
  const divider = bob.getByText('New messages', { exact: true });
  await expect(divider).toBeVisible();
  const log = bob.getByRole('log', { name: 'Messages' });
  const firstUnread = log.locator('article', { hasText: 'one' }).last();
  const dividerBox = await divider.boundingBox();
  const firstBox = await firstUnread.boundingBox();
  expect(dividerBox!.y).toBeLessThan(firstBox!.y);
  await expect(roomLink(bob, second)).toBeVisible();
  await expect(bob).toHaveTitle(`${second} · Natter`);

  // A room held already is not fetched again; all of it took one socket.
  await roomLink(bob, first).click();
  await expect(bob.getByRole('heading', { name: first })).toBeVisible();
  await waitConnected(bob);
  expect(roomFetches).toBe(1);
  expect(sockets).toBe(0);
  expect(await bob.evaluate(() => (window as unknown as { stayed?: boolean }).stayed)).toBe(true);
  await close();
});

test('reading on one device clears the count on another, across nodes', async ({ browser }) => {
  const { alice, bob, bobName, room: first, close } = await twoInARoom(browser, 'Devices');
  const second = unique('Later');
  const secondUrl = await createRoom(alice, second);
  await bob.goto(secondUrl);
  await waitConnected(bob);
  await roomLink(bob, first).click();
  await waitConnected(bob);

  // Bob's other device: the first node, whichever his first one uses.
  const laptop = await (await browser.newContext()).newPage();
  await laptop.goto('/login');
  await laptop.getByLabel('Username').fill(bobName);
  await laptop.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await laptop.getByRole('button', { name: 'Log in' }).click();
  await expect(laptop.getByRole('heading', { name: 'Rooms' })).toBeVisible();
  await laptop.getByRole('link', { name: first }).click();
  await waitConnected(laptop);

  await send(alice, 'news for both');
  await expect(roomLink(laptop, `${second}, 1 unread`)).toBeVisible();
  await expect(roomLink(bob, `${second}, 1 unread`)).toBeVisible();

  // Read on the phone, gone on the laptop.
  await roomLink(bob, `${second}, 1 unread`).click();
  await expect(bob.getByRole('log', { name: 'Messages' })).toContainText('news for both');
  await expect(roomLink(laptop, second)).toBeVisible();
  await expect(laptop).toHaveTitle(`${first} · Natter`);
  await laptop.context().close();
  await close();
});

test('scrolled up, new messages offer "Jump to latest"', async ({ browser }) => {
  const { alice, bob, close } = await twoInARoom(browser, 'Jump');
  for (let i = 1; i <= 30; i++) await send(alice, `filler ${i}`);
  const log = bob.getByRole('log', { name: 'Messages' });
  await expect(log).toContainText('filler 30');
  await log.evaluate((el) => (el.scrollTop = 0));
  await send(alice, 'the newest one');
  const jump = bob.getByRole('button', { name: /Jump to latest/ });
  await expect(jump).toBeVisible();
  await jump.click();
  await expect(jump).toHaveCount(0);
  await expect(log.getByText('the newest one')).toBeInViewport();
  await close();
});

test('on a phone the sidebar is a drawer behind "Rooms"', async ({ browser }) => {
  const { alice, bob, room: first, close } = await twoInARoom(browser, 'Drawer');
  const second = unique('Pocket');
  const secondUrl = await createRoom(alice, second);
  await bob.setViewportSize({ width: 390, height: 800 });
  await bob.goto(secondUrl);
  await waitConnected(bob);
  const nav = bob.getByRole('navigation', { name: 'Rooms' });
  await expect(nav).toBeHidden();
  const toggle = bob.getByRole('button', { name: 'Rooms' });
  await toggle.click();
  await expect(nav).toBeVisible();
  await expect(toggle).toHaveAttribute('aria-expanded', 'true');
  await nav.getByRole('link', { name: first, exact: true }).click();
  await expect(bob.getByRole('heading', { name: first })).toBeVisible();
  await expect(nav).toBeHidden();
  await close();
});
