import { test, expect } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { hydrated, secondPersonContext, send, sharedRoom, signUp, unique, waitConnected } from './helpers';

// The backstage, driven by its accessible names. The first administrator is
// made as the README says, with the server binary's `grant-role` command:
// NATTER_ADMIN_COMMAND is that binary with its environment (set by .ci/test).
function grantRole(name: string, role: string): void {
  const command = process.env.NATTER_ADMIN_COMMAND ?? '';
  const [program, ...args] = command.split(' ').filter(Boolean);
  execFileSync(program, [...args, 'grant-role', name, role], { stdio: 'pipe' });
}

test('an administrator disables an account while it chats in another browser, and its socket closes', async ({ page, browser }) => {
  test.skip(!process.env.NATTER_ADMIN_COMMAND, 'needs NATTER_ADMIN_COMMAND (see .ci/test)');
  const boss = unique('boss');
  const spammer = unique('spam');
  await signUp(page, boss);
  await expect(page.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  grantRole(boss, 'admin');
  await page.reload();
  await page.getByRole('link', { name: 'Admin' }).click();
  await hydrated(page);
  await expect(page.getByRole('heading', { name: 'People' })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Audit log' })).toBeVisible();

  // Someone chatting, in another browser (on the other node in the cluster run).
  const context = await secondPersonContext(browser);
  const other = await context.newPage();
  await signUp(other, spammer);
  await expect(other.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  const room = unique('Spam');
  await other.getByLabel('Room name').fill(room);
  await other.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(other);
  await send(other, 'buy cheap watches');

  // Found by name and disabled: their page loses its socket and goes to login.
  const people = page.getByRole('region', { name: 'People' });
  await people.getByRole('searchbox', { name: 'Search people' }).fill(spammer);
  const row = people.getByRole('row', { name: new RegExp(spammer) });
  await expect(people.getByRole('row')).toHaveCount(2); // the header and theirs
  await row.getByRole('button', { name: 'Disable' }).click();
  await expect(page.getByRole('status').filter({ hasText: `Disabled ${spammer}.` })).toBeVisible();
  await expect(row.getByRole('button', { name: 'Enable' })).toBeVisible();
  await expect(row).toContainText('Disabled');
  await expect(other).toHaveURL(/\/login/);
  // Told why, however soon the form is sent (before its script loads, the
  // server brings the form back with the reason).
  await other.getByLabel('Username').fill(spammer);
  await other.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await other.getByRole('button', { name: 'Log in' }).click();
  await expect(other.getByRole('alert')).toContainText('disabled by an administrator');

  // The audit log shows it at once.
  const audit = page.getByRole('table', { name: 'Audit entries' });
  await expect(audit.getByRole('row').nth(1)).toContainText('Account disabled');
  await expect(audit.getByRole('row').nth(1)).toContainText(spammer);

  // Enabled again and made a moderator.
  await row.getByRole('button', { name: 'Enable' }).click();
  await expect(row.getByRole('button', { name: 'Disable' })).toBeVisible();
  await row.getByRole('combobox', { name: 'Role' }).selectOption('moderator');
  await expect(audit.getByRole('row').nth(1)).toContainText('Member → Moderator');
  await expect(row.getByRole('combobox', { name: 'Role' })).toHaveValue('moderator');
  await page.screenshot({ path: 'screenshots/admin-desktop-light.png', fullPage: true });

  // Their spam goes, for everyone, after a confirmation.
  page.once('dialog', (dialog) => dialog.accept());
  await row.getByRole('button', { name: 'Remove messages' }).click();
  await expect(page.getByRole('status').filter({ hasText: `Removed 1 message of ${spammer}.` })).toBeVisible();
  await expect(audit.getByRole('row').nth(1)).toContainText('Messages removed');
  await page.goto('/');
  await page.getByRole('link', { name: room }).click();
  const log = page.getByRole('log', { name: 'Messages' });
  await expect(log).toContainText('This message was deleted.');
  await expect(log).not.toContainText('buy cheap watches');

  // A moderator is not an administrator: the backstage is a missing page to them.
  await other.goto('/login');
  await other.getByLabel('Username').fill(spammer);
  await other.getByLabel('Password', { exact: true }).fill('correct horse battery');
  await other.getByRole('button', { name: 'Log in' }).click();
  await expect(other.getByRole('heading', { name: 'Rooms' })).toBeVisible();
  await expect(other.getByRole('link', { name: 'Admin' })).toHaveCount(0);
  await other.goto('/admin');
  await expect(other.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await context.close();
});

test('an administrator makes sign-ups invitation-only, and an invitation link signs one person up', async ({ page, browser }) => {
  test.skip(!process.env.NATTER_ADMIN_COMMAND, 'needs NATTER_ADMIN_COMMAND (see .ci/test)');
  const boss = unique('boss');
  await signUp(page, boss);
  grantRole(boss, 'admin');
  await page.goto('/admin');
  await hydrated(page);
  const settings = page.getByRole('region', { name: 'Settings' });
  await expect(settings.getByRole('heading', { name: 'Settings' })).toBeVisible();
  const signups = settings.getByRole('radiogroup', { name: 'Sign-ups' });
  try {
    await signups.getByRole('radio', { name: 'By invitation' }).check();
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await expect(page.getByRole('status').filter({ hasText: 'Settings saved.' })).toBeVisible();

    // Without a link, the sign-up page says how to get in.
    const visitor = await browser.newContext();
    const stranger = await visitor.newPage();
    await stranger.goto('/signup');
    await expect(stranger.getByText('Sign-ups are by invitation.')).toBeVisible();
    await expect(stranger.getByLabel('Password')).toHaveCount(0);

    // One link, for one person.
    await settings.getByLabel('Sign-ups allowed').fill('1');
    await settings.getByRole('button', { name: 'Create invitation' }).click();
    const link = await settings.getByLabel(/Invitation link/).inputValue();
    expect(link).toMatch(/\/signup\?invitation=[0-9a-f]{64}$/);
    await expect(settings.getByRole('table', { name: 'Invitations' })).toContainText('0 of 1');
    const guest = unique('guest');
    await stranger.goto(link);
    await stranger.getByLabel('Username').fill(guest);
    await stranger.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await stranger.getByRole('button', { name: 'Sign up' }).click();
    await expect(stranger.getByRole('heading', { name: 'Rooms' })).toBeVisible();
    await visitor.close();

    const second = await browser.newContext();
    const late = await second.newPage();
    await late.goto(link);
    await late.getByLabel('Username').fill(unique('late'));
    await late.getByLabel('Password', { exact: true }).fill('correct horse battery');
    await late.getByRole('button', { name: 'Sign up' }).click();
    await expect(late.getByRole('alert')).toContainText('not valid');
    await second.close();

    await page.reload();
    await hydrated(page);
    await expect(settings.getByRole('table', { name: 'Invitations' })).toContainText('Used up');
    await page.getByRole('combobox', { name: 'Filter by action' }).selectOption('invitation_created');
    const entries = page.getByRole('table', { name: 'Audit entries' }).getByRole('row');
    await expect(entries.nth(1)).toContainText('Invitation created');
    await expect(entries.nth(1)).toContainText(boss);
    await expect(entries.filter({ hasText: 'Settings changed' })).toHaveCount(0);
  } finally {
    // The other tests sign people up: open again whatever happened above.
    const reopened = await page.request.post('/api/admin/save_settings', {
      form: { site_name: 'Natter', signups: 'open' },
    });
    expect(reopened.ok()).toBeTruthy();
  }
  await page.reload();
  await expect(signups.getByRole('radio', { name: 'Open' })).toBeChecked();
});

test('an administrator edits, archives and deletes a room someone is in', async ({ page, browser }) => {
  test.skip(!process.env.NATTER_ADMIN_COMMAND, 'needs NATTER_ADMIN_COMMAND (see .ci/test)');
  const boss = unique('boss');
  await signUp(page, boss);
  grantRole(boss, 'admin');

  const context = await secondPersonContext(browser);
  const other = await context.newPage();
  await signUp(other, unique('ann'));
  const room = unique('Old');
  await other.getByLabel('Room name').fill(room);
  await other.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(other);
  await send(other, 'said before the archive');

  await page.goto('/admin');
  await hydrated(page);
  const rooms = page.getByRole('region', { name: 'Rooms' });
  await rooms.getByRole('searchbox', { name: 'Search rooms' }).fill(room);
  const row = rooms.getByRole('row', { name: new RegExp(room) });
  await expect(rooms.getByRole('row')).toHaveCount(2);
  await expect(row).toContainText('Public');
  await expect(row.getByRole('cell').nth(3)).toHaveText('1'); // messages
  await expect(row).not.toContainText('said before the archive');

  // A new topic, in the edit dialog.
  await row.getByRole('button', { name: 'Edit' }).click();
  const edit = page.getByRole('dialog', { name: `Edit room ${room}` });
  await edit.getByLabel('Topic').fill('kept for the record');
  await edit.getByRole('button', { name: 'Save room' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Room saved.' })).toBeVisible();
  await expect(edit).toBeHidden();
  await expect(row).toContainText('kept for the record');

  // Archived: read-only for the person in it, and gone from their list.
  await row.getByRole('button', { name: 'Archive' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Room archived.' })).toBeVisible();
  await expect(row).toContainText('Archived');
  await expect(row.getByRole('button', { name: 'Restore' })).toBeVisible();
  await rooms.screenshot({ path: 'screenshots/admin-rooms-desktop-light.png' });
  await other.reload();
  await expect(other.getByRole('log', { name: 'Messages' })).toContainText('said before the archive');
  await expect(other.getByRole('note')).toContainText('This room is archived');
  await expect(other.getByRole('textbox', { name: 'Message' })).toHaveCount(0);
  await other.goto('/');
  await expect(other.getByRole('heading', { name: 'Rooms' })).toBeVisible();
  await expect(other.getByRole('link', { name: room })).toHaveCount(0);
  const roomUrl = `/rooms/${await row.getAttribute('data-room')}`;

  // Deleted, once its name is typed as written.
  await row.getByRole('button', { name: 'Delete room' }).click();
  const confirm = page.getByRole('dialog', { name: `Delete room ${room}?` });
  await expect(confirm).toContainText('its 1 message');
  await confirm.getByLabel('Room name').fill(room.toUpperCase());
  await confirm.getByRole('button', { name: 'Delete for good' }).click();
  await expect(confirm.getByRole('alert')).toContainText('type its name exactly');
  await page.screenshot({ path: 'screenshots/admin-delete-room-dialog.png' });
  await confirm.getByLabel('Room name').fill(room);
  await confirm.getByRole('button', { name: 'Delete for good' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Room deleted.' })).toBeVisible();
  await expect(confirm).toBeHidden();
  await expect(rooms.getByRole('row')).toHaveCount(0);
  const audit = page.getByRole('table', { name: 'Audit entries' });
  await expect(audit.getByRole('row').nth(1)).toContainText('Room deleted');
  await expect(audit.getByRole('row').nth(1)).toContainText(room);

  await other.goto(roomUrl);
  await expect(other.getByRole('alert')).toContainText('That room does not exist.');
  await context.close();
});

test('a member reports a message, and an administrator takes it down from the reports queue', async ({ page, browser }) => {
  test.skip(!process.env.NATTER_ADMIN_COMMAND, 'needs NATTER_ADMIN_COMMAND (see .ci/test)');
  const boss = unique('boss');
  await signUp(page, boss);
  grantRole(boss, 'admin');
  const context = await secondPersonContext(browser);
  const member = await context.newPage();
  await signUp(member, unique('mia'));
  // The administrator writes in the room too, so the member has someone to report.
  await page.goto('/');
  const room = await sharedRoom(page, member, 'Reported');
  await send(page, 'a fine morning');
  await send(page, 'something nasty');
  await send(page, 'and a fine evening');

  const nasty = member
    .getByRole('log', { name: 'Messages' })
    .locator('article', { has: member.locator('.body', { hasText: 'something nasty' }) });
  await nasty.hover();
  await nasty.getByRole('button', { name: 'Report', exact: true }).click();
  const dialog = member.getByRole('dialog', { name: 'Report message' });
  await dialog.getByLabel('Reason (optional)').fill('insulting');
  await member.screenshot({ path: 'screenshots/report-dialog.png' });
  await dialog.getByRole('button', { name: 'Send report' }).click();
  await expect(dialog).toBeHidden();
  await expect(member.getByRole('status').filter({ hasText: 'Report sent.' })).toBeVisible();
  // One's own messages have no "Report".
  await send(member, 'my own words');
  const own = member.getByRole('log', { name: 'Messages' }).locator('article', { hasText: 'my own words' });
  await own.hover();
  await expect(own.getByRole('button', { name: 'Report' })).toHaveCount(0);

  await page.goto('/admin');
  await hydrated(page);
  const reports = page.getByRole('region', { name: 'Reports' });
  await expect(reports.getByRole('heading', { name: 'Reports' })).toBeVisible();
  const item = reports.getByRole('listitem').filter({ hasText: `in ${room}` });
  await expect(item).toContainText('insulting');
  const context_ = item.getByRole('list', { name: 'The message in context' });
  await expect(context_.getByRole('listitem')).toHaveText([/a fine morning/, /something nasty/, /and a fine evening/, /my own words/]);
  await reports.screenshot({ path: 'screenshots/admin-reports-desktop-light.png' });
  await item.getByRole('button', { name: 'Delete message' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Report closed.' })).toBeVisible();
  await expect(item).toHaveCount(0);

  // Gone for the member, live.
  const log = member.getByRole('log', { name: 'Messages' });
  await expect(log).toContainText('This message was deleted.');
  await expect(log).not.toContainText('something nasty');
  await reports.getByRole('combobox', { name: 'Show reports' }).selectOption('closed');
  await expect(item).toContainText(`Message deleted by ${boss}`);
  await context.close();
});
