import { test, expect, type WebSocketRoute } from '@playwright/test';
import { secondPersonContext, signUp, send, unique, waitConnected } from './helpers';

test('a dropped connection resumes: the outbox is re-sent once and missed messages arrive', async ({ browser }) => {
  const aliceContext = await browser.newContext();
  const bobContext = await secondPersonContext(browser);
  const alice = await aliceContext.newPage();
  const bob = await bobContext.newPage();

  // Alice's socket runs through a switch the test controls.
  let online = true;
  const sockets: WebSocketRoute[] = [];
  await alice.routeWebSocket(/\/ws$/, (ws) => {
    if (!online) {
      void ws.close({ code: 4000, reason: 'offline' });
      return;
    }
    ws.connectToServer();
    sockets.push(ws);
  });

  const aliceName = unique('alice');
  await signUp(alice, aliceName);
  await signUp(bob, unique('bob'));
  const roomName = unique('Flaky');
  await alice.getByLabel('Room name').fill(roomName);
  await alice.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(alice);
  await bob.reload();
  await bob.getByRole('link', { name: roomName }).click();
  await waitConnected(bob);
  await send(alice, 'before the drop');
  await expect(bob.getByRole('log', { name: 'Messages' })).toContainText('before the drop');

  // The network goes away.
  online = false;
  for (const ws of sockets.splice(0)) await ws.close({ code: 4000, reason: 'offline' });
  await expect(alice.getByRole('status')).toContainText('Reconnecting');

  // Alice keeps typing; Bob keeps talking.
  await send(alice, 'typed while offline');
  const pending = alice.getByRole('log', { name: 'Messages' }).locator('article', { hasText: 'typed while offline' });
  await expect(pending).toContainText('Sending…');
  await send(bob, 'said while alice was away');

  // The network returns: Alice resumes by herself.
  online = true;
  await expect(alice.getByRole('status')).toHaveText('Back online', { timeout: 40_000 });
  await expect(pending).toContainText('Sent');
  await expect(alice.getByRole('log', { name: 'Messages' })).toContainText('said while alice was away');
  const bobLog = bob.getByRole('log', { name: 'Messages' });
  await expect(bobLog).toContainText('typed while offline');
  // Exactly once, on both sides, even after a reload from the server.
  await expect(bobLog.locator('article', { hasText: 'typed while offline' })).toHaveCount(1);
  await alice.reload();
  await expect(alice.getByRole('log', { name: 'Messages' }).locator('article', { hasText: 'typed while offline' })).toHaveCount(1);
  await aliceContext.close();
  await bobContext.close();
});

test('messages still pending when the page is reloaded offline are sent once the connection returns', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  let online = true;
  const sockets: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (!online) {
      void ws.close({ code: 4000, reason: 'offline' });
      return;
    }
    ws.connectToServer();
    sockets.push(ws);
  });
  const name = unique('keeper');
  await signUp(page, name);
  const roomName = unique('Outbox');
  await page.getByLabel('Room name').fill(roomName);
  await page.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(page);

  online = false;
  for (const ws of sockets.splice(0)) await ws.close({ code: 4000, reason: 'offline' });
  await expect(page.getByRole('status')).toContainText('Reconnecting');
  await send(page, 'written on the train');
  const log = page.getByRole('log', { name: 'Messages' });
  await expect(log.locator('article', { hasText: 'written on the train' })).toContainText('Sending…');

  // The tab is reloaded while still offline: the message is still there, waiting.
  await page.reload();
  await expect(log.locator('article', { hasText: 'written on the train' })).toContainText('Sending…');

  // Back online: it is sent, once, and is history for a fresh load.
  online = true;
  await expect(page.getByRole('status')).toHaveText(/Connected|Back online/, { timeout: 40_000 });
  await expect(log.locator('article', { hasText: 'written on the train' })).toContainText('Sent');
  await page.reload();
  await waitConnected(page);
  await expect(log.locator('article', { hasText: 'written on the train' })).toHaveCount(1);
  await expect(log.locator('article', { hasText: 'written on the train' })).toContainText('Sent');

  // What is still pending at logout is forgotten with the session: the next
  // person on this browser does not find it (nor send it).
  const roomUrl = page.url();
  online = false;
  for (const ws of sockets.splice(0)) await ws.close({ code: 4000, reason: 'offline' });
  await send(page, 'never mind');
  await expect(log.locator('article', { hasText: 'never mind' })).toContainText('Sending…');
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page.getByRole('heading', { name: 'Log in' })).toBeVisible();
  online = true;
  await page.getByLabel('Username').fill(name);
  await page.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await page.getByRole('button', { name: 'Log in' }).click();
  await expect(page.getByRole('heading', { name: 'Rooms' })).toBeVisible();
  await page.goto(roomUrl);
  await waitConnected(page);
  await expect(log.locator('article', { hasText: 'never mind' })).toHaveCount(0);
  await context.close();
});
