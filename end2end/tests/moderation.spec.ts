import { test, expect } from '@playwright/test';
import { secondPersonContext, send, sharedRoom, signUp, unique, waitConnected } from './helpers';

// Moderation in a room, driven by the Moderation panel's names: the owner
// appoints a moderator, who mutes someone; their sends are refused with the
// time the mute ends, until the moderator lifts it.
test('the owner appoints a moderator, who mutes and unmutes someone', async ({ browser }) => {
  const owner = await (await browser.newContext()).newPage();
  const moderatorContext = await secondPersonContext(browser);
  const moderator = await moderatorContext.newPage();
  const talker = await (await browser.newContext()).newPage();
  const modName = unique('mod');
  const talkerName = unique('talk');
  await signUp(owner, unique('own'));
  await signUp(moderator, modName);
  await signUp(talker, talkerName);
  const room = await sharedRoom(owner, moderator, 'Moderated');
  await talker.reload();
  await talker.getByRole('link', { name: room }).click();
  await waitConnected(talker);
  await send(talker, 'hello all');

  // Members see no panel; the owner does, and appoints.
  await expect(talker.getByRole('region', { name: 'Moderation' })).toHaveCount(0);
  const ownerPanel = owner.getByRole('region', { name: 'Moderation' });
  await ownerPanel.getByLabel('Person').fill(modName);
  await ownerPanel.getByRole('button', { name: 'Make moderator' }).click();
  await expect(ownerPanel.getByRole('list', { name: 'Moderators, muted and banned' })).toContainText(modName);

  await moderator.reload();
  // Hydrated before typing: a name typed into the server-rendered field
  // would be replaced by the page's own (empty) state as it hydrates.
  await waitConnected(moderator);
  const panel = moderator.getByRole('region', { name: 'Moderation' });
  await expect(panel).toBeVisible();
  await expect(panel.getByRole('button', { name: 'Make moderator' })).toHaveCount(0);
  await panel.getByLabel('Person').fill(talkerName);
  await panel.getByLabel('Mute for').selectOption({ label: '1 hour' });
  await panel.getByRole('button', { name: 'Mute', exact: true }).click();
  const standings = panel.getByRole('list', { name: 'Moderators, muted and banned' });
  await expect(standings).toContainText(`${talkerName}`);
  await expect(standings).toContainText('Muted until');
  await moderator.screenshot({ path: 'screenshots/moderation-panel.png' });

  const box = talker.getByRole('textbox', { name: 'Message' });
  await box.fill('can anyone hear me?');
  await box.press('Enter');
  await expect(talker.getByRole('alert').filter({ hasText: 'Not sent: You are muted in this room until' })).toBeVisible();

  await panel.getByRole('button', { name: `Unmute ${talkerName}` }).click();
  await expect(standings).not.toContainText(talkerName);
  await send(talker, 'back again');
  await expect(moderator.getByRole('log', { name: 'Messages' })).toContainText('back again');
  await moderatorContext.close();
});
