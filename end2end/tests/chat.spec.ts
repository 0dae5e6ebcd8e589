import { test, expect } from '@playwright/test';
import { secondPersonContext, signUp, send, unique, waitConnected } from './helpers';

test('two people sign up, share a room and chat live both ways', async ({ browser }) => {
  const aliceContext = await browser.newContext();
  const bobContext = await secondPersonContext(browser);
  const alice = await aliceContext.newPage();
  const bob = await bobContext.newPage();
  const dialogs: string[] = [];
  for (const page of [alice, bob]) page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  // The Content-Security-Policy must not block anything of ours.
  const consoleErrors: string[] = [];
  for (const page of [alice, bob]) page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });

  const aliceName = unique('alice');
  const bobName = unique('bob');
  const roomName = unique('Lobby');
  await signUp(alice, aliceName);
  await signUp(bob, bobName);
  // In the two-node run, Bob's page (and so his socket) is the second node's.
  const secondNode = process.env.NATTER_URL_2;
  if (secondNode) expect(new URL(bob.url()).origin).toBe(new URL(secondNode).origin);

  // Alice creates the room and lands in it.
  await alice.getByLabel('Room name').fill(roomName);
  await alice.getByLabel('Topic').fill('Say hello');
  await alice.getByRole('button', { name: 'Create room' }).click();
  await expect(alice.getByRole('heading', { name: roomName })).toBeVisible();
  await waitConnected(alice);

  // Bob finds it in the room list.
  await bob.reload();
  await bob.getByRole('link', { name: roomName }).click();
  await expect(bob.getByRole('heading', { name: roomName })).toBeVisible();
  await waitConnected(bob);

  // Each sees the other online.
  await expect(alice.getByRole('list', { name: 'Online' })).toContainText(bobName);
  await expect(bob.getByRole('list', { name: 'Online' })).toContainText(aliceName);

  // Messages go both ways, live.
  await send(alice, 'Hello Bob!');
  await expect(bob.getByRole('log', { name: 'Messages' })).toContainText('Hello Bob!');
  await expect(alice.getByRole('log', { name: 'Messages' }).locator('article', { hasText: 'Hello Bob!' })).toContainText('Sent');

  const bobBox = bob.getByRole('textbox', { name: 'Message' });
  await bobBox.fill('Hi Alice');
  await bobBox.press('Shift+Enter');
  await bobBox.pressSequentially('second line');
  await bob.getByRole('button', { name: 'Send' }).click();
  const multiLine = alice.getByRole('log', { name: 'Messages' }).locator('article .body', { hasText: 'second line' });
  await expect(multiLine).toHaveText('Hi Alice\nsecond line');

  // Markup in a message is shown as text, never run.
  const payload = '<img src=x onerror=alert(1)>';
  await send(alice, payload);
  const bobLog = bob.getByRole('log', { name: 'Messages' });
  await expect(bobLog).toContainText(payload);
  await expect(bobLog.locator('img')).toHaveCount(0);

  // A reload shows the history, rendered by the server.
  await bob.reload();
  const history = bob.getByRole('log', { name: 'Messages' });
  await expect(history).toContainText('Hello Bob!');
  await expect(history).toContainText('second line');
  await expect(history).toContainText(payload);
  await expect(history.locator('img')).toHaveCount(0);
  expect(dialogs).toEqual([]);
  expect(consoleErrors.filter((e) => /Content Security Policy|Refused to/.test(e))).toEqual([]);

  // An empty message is refused with a reason, and nothing is sent.
  await waitConnected(bob);
  await bob.getByRole('textbox', { name: 'Message' }).fill('   ');
  await bob.getByRole('button', { name: 'Send' }).click();
  await expect(bob.getByRole('alert')).toHaveText('Message cannot be empty.');

  // Alice leaves; Bob sees her go.
  await alice.close();
  await expect(bob.getByRole('list', { name: 'Online' })).not.toContainText(aliceName);
  await expect(bob.getByRole('log', { name: 'Messages' })).toContainText(`${aliceName} left`);
  await aliceContext.close();
  await bobContext.close();
});

test('the server-rendered room already holds the history before any script runs', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUp(page, unique('carol'));
  // Markup in a room name and topic is text everywhere, the <title> included.
  const roomName = `</title><img src=x onerror=alert(1)> ${Date.now() % 1e6}`;
  const topic = '<script>alert(2)</script>';
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.getByLabel('Room name').fill(roomName);
  await page.getByLabel('Topic').fill(topic);
  await page.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(page);
  await expect(page.getByRole('heading', { name: roomName })).toHaveText(roomName);
  await expect(page.getByText(topic)).toBeVisible();
  await expect(page).toHaveTitle(`${roomName} · Natter`);
  await expect(page.locator('img')).toHaveCount(0);
  await send(page, 'written before the reload');
  await expect(page.getByRole('log', { name: 'Messages' })).toContainText('Sent');
  const html = await (await page.request.get(page.url())).text();
  expect(html).toContain('written before the reload');
  expect(html).toContain('role="log"');
  await page.reload();
  await expect(page).toHaveTitle(`${roomName} · Natter`);
  await expect(page.locator('img')).toHaveCount(0);
  expect(dialogs).toEqual([]);
  await context.close();
});

test('logged-out visitors are sent to log in, and a wrong password says so', async ({ page }) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login$/);
  await page.getByLabel('Username').fill('nobody_here');
  await page.getByLabel('Password', { exact: true }).fill('wrong password');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Wrong username or password.');
});

test('older messages load on demand, any depth back', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUp(page, unique('erin'));
  await page.getByLabel('Room name').fill(unique('Archive'));
  await page.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(page);
  for (let i = 1; i <= 105; i++) await send(page, `note ${i}`);
  await expect(page.getByRole('log', { name: 'Messages' }).locator('article').last()).toContainText('note 105');
  // Everything committed before the reload (pending messages live in the page).
  await expect(page.getByRole('log', { name: 'Messages' }).getByText('Sending…')).toHaveCount(0);

  await page.reload();
  await waitConnected(page);
  const log = page.getByRole('log', { name: 'Messages' });
  // The server rendered the newest 50.
  await expect(log.locator('article')).toHaveCount(50);
  await expect(log.locator('article').first()).toContainText(/note 56(?!\d)/);
  // The button, activated where it is: a real click would first scroll the
  // log to its top, which loads the page by itself (tested next) and races
  // the click.
  await page.getByRole('button', { name: 'Load older' }).dispatchEvent('click');
  await expect(log.locator('article')).toHaveCount(100);
  await expect(log.locator('article').first()).toContainText(/note 6(?!\d)/);
  await expect(log).not.toContainText('This is the start of the room.');
  // Scrolling to the top loads the next older page on its own.
  await log.evaluate((el) => {
    el.scrollTop = 0;
  });
  await expect(log.locator('article')).toHaveCount(105);
  await expect(log.locator('article').first()).toContainText(/note 1(?!\d)/);
  await expect(log).toContainText('This is the start of the room.');
  await expect(page.getByRole('button', { name: 'Load older' })).toHaveCount(0);
  await context.close();
});
