import { test, expect, type Locator, type Page } from '@playwright/test';
import { secondPersonContext, send, sharedRoom, signUp, unique, waitConnected } from './helpers';

/** The message in `page`'s log whose own text (not a quote in it) includes `text`. */
function message(page: Page, text: string): Locator {
  return page.getByRole('log', { name: 'Messages' }).locator('article', { has: page.locator('.body', { hasText: text }) });
}

/** One of a message's actions, shown on hover (and on keyboard focus). */
async function act(page: Page, text: string, action: string): Promise<void> {
  const m = message(page, text);
  await m.hover();
  await m.getByRole('button', { name: action, exact: true }).click();
}

test('edit, reply, react and delete, live for both people', async ({ browser }) => {
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await secondPersonContext(browser)).newPage();
  const aliceName = unique('alice');
  const bobName = unique('bob');
  await signUp(alice, aliceName);
  await signUp(bob, bobName);
  await sharedRoom(alice, bob, 'Living');

  // Edit: inline, Enter saves; both see the new text and "(edited)".
  await send(alice, 'Helo everyone');
  await expect(message(bob, 'Helo everyone')).toBeVisible();
  await act(alice, 'Helo everyone', 'Edit');
  const editor = alice.getByRole('textbox', { name: 'Edit message' });
  await expect(editor).toBeFocused();
  await editor.fill('Hello everyone');
  await editor.press('Enter');
  for (const page of [alice, bob]) {
    await expect(message(page, 'Hello everyone')).toContainText('(edited)');
    await expect(page.getByRole('log', { name: 'Messages' })).not.toContainText('Helo everyone');
  }
  // Bob may not edit or delete Alice's message.
  await message(bob, 'Hello everyone').hover();
  await expect(message(bob, 'Hello everyone').getByRole('button', { name: 'Edit' })).toHaveCount(0);
  await expect(message(bob, 'Hello everyone').getByRole('button', { name: 'Delete' })).toHaveCount(0);

  // ArrowUp in the empty composer edits one's last message; Escape cancels.
  const aliceBox = alice.getByRole('textbox', { name: 'Message' });
  await aliceBox.focus();
  await aliceBox.press('ArrowUp');
  await expect(editor).toHaveValue('Hello everyone');
  await editor.press('Escape');
  await expect(editor).toHaveCount(0);
  await expect(aliceBox).toBeFocused();

  // Reply: the composer says to whom, and the reply quotes the original.
  await act(bob, 'Hello everyone', 'Reply');
  await expect(bob.getByText(`Replying to ${aliceName}`)).toBeVisible();
  await bob.getByRole('button', { name: 'Cancel reply' }).click();
  await expect(bob.getByText(`Replying to ${aliceName}`)).toHaveCount(0);
  await act(bob, 'Hello everyone', 'Reply');
  await send(bob, 'Welcome, all!');
  await expect(bob.getByText(`Replying to ${aliceName}`)).toHaveCount(0);
  for (const page of [alice, bob]) {
    const quote = message(page, 'Welcome, all!').locator('.quote');
    await expect(quote).toContainText(aliceName);
    await expect(quote).toContainText('Hello everyone');
  }
  // Alice owns the room: she may delete Bob's message, not edit it.
  await message(alice, 'Welcome, all!').hover();
  await expect(message(alice, 'Welcome, all!').getByRole('button', { name: 'Delete' })).toHaveCount(1);
  await expect(message(alice, 'Welcome, all!').getByRole('button', { name: 'Edit' })).toHaveCount(0);

  // Activating the quote brings the original into view, focused.
  await message(alice, 'Welcome, all!').locator('.quote').click();
  await expect(message(alice, 'Hello everyone')).toBeFocused();

  // React from the picker; chips count, say whose, and toggle.
  await act(bob, 'Hello everyone', 'Add reaction');
  const picker = bob.getByRole('dialog', { name: 'Emoji picker' });
  await expect(picker).toBeVisible();
  await picker.getByRole('searchbox', { name: 'Search emoji' }).fill('thumbs');
  await picker.getByRole('button', { name: 'thumbs up', exact: true }).click();
  await expect(picker).toBeHidden();
  const bobChip = message(bob, 'Hello everyone').getByRole('button', { name: /^👍 1/ });
  await expect(bobChip).toHaveAttribute('aria-pressed', 'true');
  const aliceChip = message(alice, 'Hello everyone').getByRole('button', { name: /^👍 1/ });
  await expect(aliceChip).toHaveAttribute('aria-pressed', 'false');
  await expect(aliceChip).toHaveAccessibleName(new RegExp(bobName));
  await aliceChip.click();
  await expect(message(bob, 'Hello everyone').getByRole('button', { name: /^👍 2/ })).toBeVisible();
  const both = message(alice, 'Hello everyone').getByRole('button', { name: /^👍 2/ });
  await expect(both).toHaveAttribute('aria-pressed', 'true');
  await expect(both).toBeFocused();
  await both.click();
  await expect(message(bob, 'Hello everyone').getByRole('button', { name: /^👍 1/ })).toBeVisible();

  // Reactions are in the history the server renders.
  await bob.reload();
  await expect(message(bob, 'Hello everyone').getByRole('button', { name: /^👍 1/ })).toHaveAttribute('aria-pressed', 'true');
  await waitConnected(bob);

  // Delete asks first; then everyone sees the tombstone, and the reply says so.
  await act(alice, 'Hello everyone', 'Delete');
  const confirm = alice.getByRole('dialog', { name: 'Delete this message?' });
  await expect(confirm).toBeVisible();
  await confirm.getByRole('button', { name: 'Cancel' }).click();
  await expect(confirm).toBeHidden();
  await expect(message(alice, 'Hello everyone')).toBeVisible();
  await act(alice, 'Hello everyone', 'Delete');
  await confirm.getByRole('button', { name: 'Delete message' }).click();
  for (const page of [alice, bob]) {
    const log = page.getByRole('log', { name: 'Messages' });
    await expect(message(page, 'This message was deleted.')).toHaveCount(1);
    await expect(log).not.toContainText('Hello everyone');
    await expect(message(page, 'Welcome, all!').locator('.quote')).toContainText('The original message was deleted.');
  }
  // Gone from the server's HTML too, not just hidden by the client.
  const html = await (await bob.request.get(bob.url())).text();
  expect(html).not.toContain('Hello everyone');
  expect(html).toContain('This message was deleted.');
  expect(html).toContain('Welcome, all!');
});

test('emoji: shortcodes while typing, the picker, skin tones, large emoji', async ({ page }) => {
  await signUp(page, unique('emma'));
  const room = unique('Emoji');
  await page.getByLabel('Room name').fill(room);
  await page.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(page);
  const box = page.getByRole('textbox', { name: 'Message' });

  // `:thu` offers 👍 first; Enter takes it.
  await box.pressSequentially('Nice :thu');
  const offered = page.getByRole('listbox', { name: 'Emoji suggestions' });
  await expect(offered.getByRole('option').first()).toContainText('👍');
  await box.press('Enter');
  await expect(box).toHaveValue('Nice 👍');
  await expect(offered).toHaveCount(0);
  // A time is not a shortcode.
  await box.fill('');
  await box.pressSequentially('at 10:30');
  await expect(offered).toHaveCount(0);
  await box.fill('');

  // The picker: search by name, insert at the caret, close.
  await page.getByRole('button', { name: 'Emoji', exact: true }).click();
  const picker = page.getByRole('dialog', { name: 'Emoji picker' });
  await expect(picker.getByRole('searchbox', { name: 'Search emoji' })).toBeFocused();
  await picker.getByRole('searchbox', { name: 'Search emoji' }).fill('party');
  await picker.getByRole('button', { name: 'party popper' }).click();
  await expect(picker).toBeHidden();
  await expect(box).toHaveValue('🎉');
  await expect(box).toBeFocused();

  // Reopened: the recently used category comes first; a skin tone applies.
  await page.getByRole('button', { name: 'Emoji', exact: true }).click();
  await expect(picker.getByRole('button', { name: 'Recently used' })).toHaveAttribute('aria-pressed', 'true');
  await expect(picker.getByRole('button', { name: 'party popper' })).toBeVisible();
  await picker.getByLabel('Skin tone').selectOption({ label: '✋ Dark' });
  await picker.getByRole('searchbox', { name: 'Search emoji' }).fill('thumbs up');
  await picker.getByRole('button', { name: 'thumbs up', exact: true }).click();
  await expect(box).toHaveValue('🎉👍🏿');
  // Escape closes it without picking.
  await page.getByRole('button', { name: 'Emoji', exact: true }).click();
  await expect(picker).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(picker).toBeHidden();
  // By keyboard alone: ArrowDown from the search enters the grid, arrows move, Enter picks
  // (in the skin tone chosen before, which is remembered).
  await page.getByRole('button', { name: 'Emoji', exact: true }).click();
  await picker.getByRole('searchbox', { name: 'Search emoji' }).fill('thumbs');
  await page.keyboard.press('ArrowDown');
  await expect(picker.getByRole('button', { name: 'thumbs up', exact: true })).toBeFocused();
  await page.keyboard.press('ArrowRight');
  await expect(picker.getByRole('button', { name: 'thumbs down', exact: true })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(picker).toBeHidden();
  await expect(box).toHaveValue('🎉👍🏿👎🏿');

  // A message of one to three emoji only is shown large; others are not.
  await box.press('Enter');
  await send(page, 'words 🎉');
  const large = message(page, '🎉👍🏿👎🏿').locator('.body');
  const normal = message(page, 'words 🎉').locator('.body');
  await expect(large).toHaveClass(/jumbo/);
  await expect(normal).not.toHaveClass(/jumbo/);
  const size = async (l: Locator) => parseFloat(await l.evaluate((el) => getComputedStyle(el).fontSize));
  expect(await size(large)).toBeGreaterThan(2 * (await size(normal)));
});

test('a quote of a message on an older page loads history back to it', async ({ browser }) => {
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await secondPersonContext(browser)).newPage();
  await signUp(alice, unique('alice'));
  await signUp(bob, unique('bob'));
  await sharedRoom(alice, bob, 'Living');
  await send(alice, 'The very first word');
  // Sixty more, straight over a socket of Alice's own (the page's cookie).
  await alice.evaluate(async (room) => {
    const ws = new WebSocket(`${location.origin.replace('http', 'ws')}/ws`);
    await new Promise((ok) => { ws.onopen = ok; });
    ws.send(JSON.stringify({ type: 'join', room, since: 0 }));
    for (let i = 0; i < 60; i++) {
      ws.send(JSON.stringify({ type: 'send', room, client_id: `filler-${i}`, body: `filler ${i}` }));
    }
    await new Promise<void>((done) => {
      let acked = 0;
      ws.onmessage = (e) => { if (JSON.parse(e.data).type === 'ack' && ++acked === 60) done(); };
    });
    ws.close();
  }, Number(new URL(alice.url()).pathname.split('/').pop()));
  await expect(message(bob, 'filler 59')).toBeVisible();

  // Bob scrolls back to the first message and answers it.
  while (await message(bob, 'The very first word').count() === 0) {
    await bob.getByRole('button', { name: 'Load older' }).click();
  }
  await act(bob, 'The very first word', 'Reply');
  await send(bob, 'Answering the first');

  // Alice's fresh page holds only the newest fifty; the quote loads back to it.
  await alice.reload();
  await waitConnected(alice);
  await expect(message(alice, 'The very first word')).toHaveCount(0);
  await message(alice, 'Answering the first').locator('.quote').click();
  await expect(message(alice, 'The very first word')).toBeFocused();
  await expect(message(alice, 'The very first word')).toBeInViewport();
});
