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

/** Records the notifications a page raises, and whether it asks for permission. */
function recordNotifications() {
  const Real = window.Notification;
  const w = window as unknown as { notes: { title: string; body?: string; note: Notification }[]; asked: number };
  w.notes = [];
  w.asked = 0;
  class Recorded extends Real {
    constructor(title: string, options?: NotificationOptions) {
      super(title, options);
      w.notes.push({ title, body: options?.body, note: this });
    }
    static requestPermission(): Promise<NotificationPermission> {
      w.asked++;
      return Real.requestPermission();
    }
    static get permission(): NotificationPermission {
      return Real.permission;
    }
  }
  window.Notification = Recorded as unknown as typeof Notification;
}

type Noted = { notes: { title: string; body?: string }[]; asked: number };
const noted = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as Noted;
    return { notes: w.notes.map(({ title, body }) => ({ title, body })), asked: w.asked };
  });

test('mentions notify once notifications are turned on, never a muted room', async ({ browser }) => {
  const { alice, bob, aliceName, bobName, room: first, close } = await twoInARoom(browser, 'Notify');
  const firstUrl = alice.url();
  await bob.context().grantPermissions(['notifications']);
  await bob.context().addInitScript(recordNotifications);
  const second = unique('Away');
  const secondUrl = await createRoom(alice, second);
  await bob.goto(secondUrl);
  await waitConnected(bob);
  await alice.goto(firstUrl);
  await waitConnected(alice);

  // Allowed by the browser, but not turned on here: nothing shows, and the
  // page never asks for permission by itself.
  await send(alice, `early @${bobName} note`);
  await expect(roomLink(bob, `${first}, 1 unread, 1 mention`)).toBeVisible();
  expect(await noted(bob)).toEqual({ notes: [], asked: 0 });

  await bob.getByRole('button', { name: 'Enable notifications' }).click();
  await expect(bob.getByRole('button', { name: 'Turn off notifications' })).toBeVisible();
  await send(alice, `hello @${bobName} look`);
  await send(alice, 'plain words');
  await expect(roomLink(bob, `${first}, 3 unread, 2 mentions`)).toBeVisible();
  const { notes } = await noted(bob);
  expect(notes).toEqual([{ title: `${aliceName} in ${first}`, body: `hello @${bobName} look` }]);

  // Activating it opens the room at that message.
  await bob.evaluate(() => (window as unknown as { notes: { note: Notification }[] }).notes[0].note.onclick?.(new Event('click')));
  await expect(bob.getByRole('heading', { name: first })).toBeVisible();
  await expect(bob.locator('article:focus')).toContainText(`hello @${bobName} look`);

  // Muted: counted, but neither bold nor notified.
  const mute = bob.getByRole('button', { name: 'Mute room' });
  await expect(mute).toHaveAttribute('aria-pressed', 'false');
  await mute.click();
  await expect(mute).toHaveAttribute('aria-pressed', 'true');
  await roomLink(bob, second).click();
  await expect(bob.getByRole('heading', { name: second })).toBeVisible();
  await send(alice, `still @${bobName} there?`);
  const muted = roomLink(bob, `${first}, 1 unread, 1 mention`);
  await expect(muted).toBeVisible();
  await expect(muted).not.toHaveClass(/unread/);
  expect((await noted(bob)).notes).toHaveLength(1);
  await close();
});

test('the Enter that confirms an input method candidate does not send', async ({ browser }) => {
  const { alice, close } = await twoInARoom(browser, 'Ime');
  const box = alice.getByRole('textbox', { name: 'Message' });
  await box.fill('你好');
  // What a browser sends while a Chinese input method is composing.
  await box.evaluate((el) =>
    el.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', isComposing: true, bubbles: true, cancelable: true })),
  );
  await expect(box).toHaveValue('你好');
  await expect(alice.getByRole('log', { name: 'Messages' })).not.toContainText('你好');
  await box.press('Enter');
  await expect(alice.getByRole('log', { name: 'Messages' })).toContainText('你好');
  await close();
});
