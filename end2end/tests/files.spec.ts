import { test, expect, type Page } from '@playwright/test';
import { png, secondPersonContext, sharedRoom, signUp, unique, waitConnected } from './helpers';

/** A DataTransfer in the page holding one file, for a paste or a drop. */
async function transfer(page: Page, name: string, type: string, bytes: Buffer) {
  return page.evaluateHandle(
    ({ name, type, data }) => {
      const transfer = new DataTransfer();
      const raw = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      transfer.items.add(new File([raw], name, { type }));
      return transfer;
    },
    { name, type, data: bytes.toString('base64') },
  );
}

test('pick, paste and drop files; both people see them; the viewer opens by name', async ({ browser }) => {
  const alice = await (await browser.newContext()).newPage();
  const bob = await (await secondPersonContext(browser)).newPage();
  await signUp(alice, unique('alice'));
  await signUp(bob, unique('bob'));
  await sharedRoom(alice, bob, 'Files');

  // Pick: the "Attach files" button opens the file chooser; with words in
  // the composer, they go with the file.
  const box = alice.getByRole('textbox', { name: 'Message' });
  await box.fill('our holiday 海边');
  const chooser = alice.waitForEvent('filechooser');
  await alice.getByRole('button', { name: 'Attach files' }).click();
  await (await chooser).setFiles([
    { name: 'beach.png', mimeType: 'image/png', buffer: png(1200, 800, [30, 120, 220]) },
    { name: 'notes.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.7\n% not really a pdf\n') },
  ]);
  for (const page of [alice, bob]) {
    const log = page.getByRole('log', { name: 'Messages' });
    const picture = log.getByRole('button', { name: 'Open image beach.png' });
    await expect(picture).toBeVisible();
    const withPicture = log.locator('article', { has: page.getByRole('button', { name: 'Open image beach.png' }) });
    await expect(withPicture).toContainText('our holiday 海边');
    // Sized before it loads: the box has the picture's shape (3:2).
    const img = picture.locator('img');
    await expect(img).toHaveAttribute('width', '360');
    await expect(img).toHaveAttribute('height', '240');
    await expect(img).toHaveAttribute('alt', 'beach.png');
    await expect.poll(() => img.evaluate((el: HTMLImageElement) => el.naturalWidth)).toBe(960); // the preview
    // Anything else is a card that downloads, never shown inline.
    await expect(log.getByRole('link', { name: /^notes\.pdf, \d+ bytes$/ })).toBeVisible();
  }
  await expect(box).toHaveValue('');
  const download = bob.waitForEvent('download');
  await bob.getByRole('link', { name: /^notes\.pdf/ }).click();
  expect((await download).suggestedFilename()).toBe('notes.pdf');

  // Paste: a screenshot from the clipboard.
  await box.focus();
  const pasted = await transfer(alice, 'screenshot.png', 'image/png', png(300, 200, [220, 40, 40]));
  await box.evaluate((el, data) => {
    el.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data as DataTransfer, bubbles: true, cancelable: true }));
  }, pasted);
  await expect(bob.getByRole('button', { name: 'Open image screenshot.png' })).toBeVisible();

  // Drop: anywhere on the conversation.
  const dropped = await transfer(alice, 'drop.png', 'image/png', png(400, 400, [40, 200, 90]));
  await alice.dispatchEvent('section.chat', 'drop', { dataTransfer: dropped });
  await expect(bob.getByRole('button', { name: 'Open image drop.png' })).toBeVisible();

  // The viewer: opened by the picture, named "Image viewer"; the arrow keys
  // go through the room's pictures; Escape and "Close" close it.
  await bob.getByRole('button', { name: 'Open image beach.png' }).click();
  const viewer = bob.getByRole('dialog', { name: 'Image viewer' });
  await expect(viewer).toBeVisible();
  await expect(viewer.getByRole('img', { name: 'beach.png' })).toBeVisible();
  await expect(viewer).toContainText('1 of 3');
  await bob.keyboard.press('ArrowRight');
  await expect(viewer.getByRole('img', { name: 'screenshot.png' })).toBeVisible();
  await bob.keyboard.press('ArrowRight');
  await expect(viewer.getByRole('img', { name: 'drop.png' })).toBeVisible();
  await bob.keyboard.press('ArrowLeft');
  await expect(viewer).toContainText('2 of 3');
  await bob.keyboard.press('Escape');
  await expect(viewer).toBeHidden();
  await bob.getByRole('button', { name: 'Open image drop.png' }).click();
  await viewer.getByRole('button', { name: 'Close' }).click();
  await expect(viewer).toBeHidden();

  // A reload shows them from history.
  await bob.reload();
  await expect(bob.getByRole('button', { name: 'Open image beach.png' })).toBeVisible();
  await expect(bob.getByRole('link', { name: /^notes\.pdf/ })).toBeVisible();
});

test('a file too big is refused with a reason and keeps the words; an upload can be cancelled', async ({ browser }) => {
  const alice = await (await browser.newContext()).newPage();
  await signUp(alice, unique('alice'));
  const room = unique('Cancel');
  await alice.getByLabel('Room name').fill(room);
  await alice.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(alice);

  const box = alice.getByRole('textbox', { name: 'Message' });
  await box.fill('words I typed');
  await alice.locator('#attach-input').setInputFiles({
    name: 'huge.bin',
    mimeType: 'application/octet-stream',
    buffer: Buffer.alloc(26 * 1024 * 1024, 1),
  });
  await expect(alice.getByRole('alert').filter({ hasText: 'Not uploaded: it is too big' })).toBeVisible();
  await expect(box).toHaveValue('words I typed');
  await alice.getByRole('button', { name: 'Dismiss' }).click();
  await expect(alice.getByRole('list', { name: 'Uploads' })).toBeHidden();

  // A slow link: the upload shows its progress, named by the file, and stops on "Cancel upload".
  const cdp = await alice.context().newCDPSession(alice);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: 64 * 1024,
  });
  await alice.locator('#attach-input').setInputFiles({
    name: 'slow.bin',
    mimeType: 'application/octet-stream',
    buffer: Buffer.alloc(2 * 1024 * 1024, 7),
  });
  const bar = alice.getByRole('progressbar', { name: 'slow.bin' });
  await expect(bar).toBeVisible();
  await alice.getByRole('button', { name: 'Cancel upload' }).click();
  await expect(bar).toBeHidden();
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: -1,
  });
  await expect(alice.getByRole('log', { name: 'Messages' })).not.toContainText('slow.bin');
  await expect(box).toHaveValue('words I typed');
});
