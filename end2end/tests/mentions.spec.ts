import { test, expect } from '@playwright/test';
import { twoInARoom } from './helpers';

test('typing @ offers the room\'s people; a mention is highlighted for the one it names', async ({ browser }) => {
  const { alice, bob, aliceName, bobName, close } = await twoInARoom(browser, 'Mentions');

  const box = alice.getByRole('textbox', { name: 'Message' });
  await box.pressSequentially(`thanks @${bobName.slice(0, 5)}`);
  const people = alice.getByRole('listbox', { name: 'People' });
  await expect(people.getByRole('option')).toHaveText([`@${bobName}`]);
  await expect(box).toHaveAttribute('aria-controls', 'composer-suggestions');
  // The reader is never offered to themself.
  await box.press('Control+a');
  await box.pressSequentially(`@${aliceName.slice(0, 5)}`);
  await expect(people).toHaveCount(0);
  await box.fill('');
  await box.pressSequentially(`thanks @${bobName.slice(0, 5)}`);
  await expect(people.getByRole('option', { selected: true })).toHaveText(`@${bobName}`);
  await box.press('Enter');
  await expect(box).toHaveValue(`thanks @${bobName} `);
  await box.pressSequentially('for the review');
  await box.press('Escape');
  await box.press('Enter');

  // Bob sees his name highlighted, and the message marked for him.
  const bobLog = bob.getByRole('log', { name: 'Messages' });
  const message = bobLog.locator('article', { hasText: 'for the review' });
  await expect(message).toHaveClass(/mentions-me/);
  await expect(message.locator('.mention.of-me')).toHaveText(`@${bobName}`);
  // Alice's own copy names someone else: a mention, not one of her.
  const mine = alice.getByRole('log', { name: 'Messages' }).locator('article', { hasText: 'for the review' });
  await expect(mine.locator('.mention')).toHaveText(`@${bobName}`);
  await expect(mine).not.toHaveClass(/mentions-me/);
  await expect(mine.locator('.mention.of-me')).toHaveCount(0);
  await close();
});
