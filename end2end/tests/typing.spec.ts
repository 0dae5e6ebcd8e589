import { test, expect } from '@playwright/test';
import { twoInARoom } from './helpers';

test('someone typing is shown to the room, and stops with the message, an emptied draft or a pause', async ({ browser }) => {
  const { alice, bob, aliceName, bobName, close } = await twoInARoom(browser, 'Typing');

  const bobBox = bob.getByRole('textbox', { name: 'Message' });
  const bobTyping = alice.getByText(`${bobName} is typing…`);
  // Spaces alone are not a message, nor typing one.
  await bobBox.pressSequentially('   ');
  await bobBox.pressSequentially('Hel');
  await expect(bobTyping).toBeVisible();
  // Announced politely, never taking focus; Bob does not see himself.
  await expect(alice.locator('[aria-live="polite"]', { hasText: bobName })).toHaveCount(1);
  await expect(bob.getByText(`${bobName} is typing…`)).toHaveCount(0);

  // The message ends it.
  await bobBox.pressSequentially('lo');
  await bobBox.press('Enter');
  await expect(alice.getByRole('log', { name: 'Messages' })).toContainText('Hello');
  await expect(bobTyping).toHaveCount(0);

  // So does emptying the draft, at once.
  await bobBox.pressSequentially('Wait');
  await expect(bobTyping).toBeVisible();
  await bobBox.fill('');
  await expect(bobTyping).toHaveCount(0);

  // Both typing at once: each sees the other.
  await bobBox.pressSequentially('One');
  await alice.getByRole('textbox', { name: 'Message' }).pressSequentially('Two');
  await expect(bob.getByText(`${aliceName} is typing…`)).toBeVisible();
  await expect(alice.getByText(`${bobName} is typing…`)).toBeVisible();

  // And a pause of five seconds without a key ends it too.
  await expect(bobTyping).toHaveCount(0, { timeout: 10_000 });
  await close();
});
