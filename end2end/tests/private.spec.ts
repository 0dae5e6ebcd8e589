import { test, expect } from '@playwright/test';
import { secondPersonContext, signUp, send, unique, waitConnected } from './helpers';

test('a private room is shown only to the members its owner adds, and removal takes effect live', async ({ browser }) => {
  const ownerContext = await browser.newContext();
  const guestContext = await secondPersonContext(browser);
  const owner = await ownerContext.newPage();
  const guest = await guestContext.newPage();
  const guestName = unique('guest');
  await signUp(owner, unique('owner'));
  await signUp(guest, guestName);

  const roomName = unique('Hush');
  await owner.getByLabel('Room name').fill(roomName);
  await owner.getByLabel('Private room').check();
  await owner.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(owner);
  await send(owner, 'members only');

  // Not a member: not listed, and the address shows nothing.
  await guest.reload();
  await expect(guest.getByRole('link', { name: roomName })).toHaveCount(0);
  await guest.goto(new URL(owner.url()).pathname);
  await expect(guest.getByRole('alert')).toHaveText('That room does not exist.');

  // The owner adds the guest.
  await owner.getByLabel('Member username').fill(guestName);
  await owner.getByRole('button', { name: 'Add member' }).click();
  await expect(owner.getByRole('list', { name: 'Members' })).toContainText(guestName);
  await owner.screenshot({ path: 'screenshots/private-room-desktop-light.png' });
  await guest.goto('/');
  await guest.getByRole('link', { name: roomName }).click();
  await waitConnected(guest);
  await expect(guest.getByRole('log', { name: 'Messages' })).toContainText('members only');

  // Removed while looking at the room: told at once, and nothing more arrives.
  await owner.getByRole('button', { name: `Remove ${guestName}` }).click();
  await expect(owner.getByRole('list', { name: 'Members' })).not.toContainText(guestName);
  await expect(guest.getByText('You no longer have access to this room.')).toBeVisible();
  await send(owner, 'after the removal');
  await expect(owner.getByRole('log', { name: 'Messages' })).toContainText('after the removal');
  await expect(guest.getByRole('log', { name: 'Messages' })).not.toContainText('after the removal');
  await ownerContext.close();
  await guestContext.close();
});

test('a direct message opens the private room of the two, and only they see it', async ({ browser }) => {
  const contexts = [await browser.newContext(), await secondPersonContext(browser)];
  const [ann, bob] = await Promise.all(contexts.map((c) => c.newPage()));
  const annName = unique('ann');
  const bobName = unique('bob');
  await signUp(ann, annName);
  await signUp(bob, bobName);

  await ann.getByRole('textbox', { name: 'Username' }).fill(bobName);
  await ann.getByRole('button', { name: 'Open conversation' }).click();
  await waitConnected(ann);
  await expect(ann.getByRole('heading', { name: 'Direct conversation' })).toBeVisible();
  await expect(ann.getByRole('button', { name: 'Add member' })).toHaveCount(0);
  await send(ann, 'just between us');

  await bob.reload();
  const link = bob.getByRole('link', { name: `${annName} & ${bobName}` });
  await expect(link.locator('..')).toContainText('Direct');
  await link.click();
  await waitConnected(bob);
  await expect(bob.getByRole('log', { name: 'Messages' })).toContainText('just between us');
  for (const c of contexts) await c.close();
});

test('a room opened without a session leads to the login page and back to the room', async ({ browser }) => {
  const ownerContext = await browser.newContext();
  const owner = await ownerContext.newPage();
  const name = unique('member');
  await signUp(owner, name);
  const roomName = unique('Bookmark');
  await owner.getByLabel('Room name').fill(roomName);
  await owner.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(owner);
  const roomUrl = owner.url();

  // The same person, on another device with no session, follows a link to the room.
  const otherContext = await browser.newContext();
  const other = await otherContext.newPage();
  await other.goto(roomUrl);
  await expect(other.getByRole('heading', { name: 'Log in' })).toBeVisible();
  expect(new URL(other.url()).pathname).toBe('/login');
  await other.getByLabel('Username').fill(name);
  await other.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await other.getByRole('button', { name: 'Log in' }).click();
  await expect(other.getByRole('heading', { name: roomName })).toBeVisible();
  expect(other.url()).toBe(roomUrl);
  await waitConnected(other);
  await ownerContext.close();
  await otherContext.close();
});
