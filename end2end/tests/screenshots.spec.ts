import { test, expect } from '@playwright/test';
import { png, signUp, send, unique, waitConnected } from './helpers';

// Pictures of the pages at phone and desktop widths, written to
// end2end/screenshots/ for people to look at (the README shows one).
for (const [label, width, height] of [['desktop', 1280, 800], ['phone', 390, 844]] as const) {
  test(`screenshots at ${label} width`, async ({ browser }) => {
    for (const scheme of ['light', 'dark'] as const) {
      const context = await browser.newContext({ viewport: { width, height }, colorScheme: scheme });
      const page = await context.newPage();
      await page.goto('/login');
      await page.screenshot({ path: `screenshots/login-${label}-${scheme}.png` });
      await signUp(page, unique('dana'));
      const room = unique('Design review');
      await page.getByLabel('Room name').fill(room);
      await page.getByLabel('Topic').fill('Weekly sync — bring screenshots');
      await page.getByRole('button', { name: 'Create room' }).click();
      await waitConnected(page);
      await send(page, 'Morning! 👋 Shall we start?');
      await send(page, 'Agenda:\n1. Colours\n2. Phone layout');
      const log = page.getByRole('log', { name: 'Messages' });
      await expect(log).toContainText('Phone layout');
      // A reaction, a reply, an edit and a large emoji, so the pictures show them.
      const first = log.locator('article', { hasText: 'Shall we start?' });
      await first.hover();
      await first.getByRole('button', { name: 'Add reaction' }).click();
      const picker = page.getByRole('dialog', { name: 'Emoji picker' });
      await picker.getByRole('searchbox', { name: 'Search emoji' }).fill('thumbs up');
      if (label === 'desktop') await page.screenshot({ path: `screenshots/picker-${label}-${scheme}.png` });
      await picker.getByRole('button', { name: 'thumbs up', exact: true }).click();
      await expect(first.getByRole('button', { name: /^👍 1/ })).toBeVisible();
      await first.hover();
      await first.getByRole('button', { name: 'Reply' }).click();
      await send(page, 'Yes — colours first, then the phone layout (fixed the typo)');
      const reply = log.locator('article', { hasText: 'colours first' });
      await reply.hover();
      await reply.getByRole('button', { name: 'Edit' }).click();
      const editor = page.getByRole('textbox', { name: 'Edit message' });
      await editor.fill('Yes — colours first, then the phone layout');
      await editor.press('Enter');
      await expect(reply).toContainText('(edited)');
      await send(page, '🎉');
      await page.mouse.move(0, 0);
      await page.screenshot({ path: `screenshots/room-${label}-${scheme}.png` });
      // A picture and a file, and the picture large in the viewer.
      const sunset = png(900, 600, (x, y) => [240 - (y >> 2), 120 + (x >> 4), 80 + (y >> 1)]);
      await page.locator('#attach-input').setInputFiles([
        { name: 'sunset.png', mimeType: 'image/png', buffer: sunset },
        { name: 'minutes.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.7\n%…\n') },
      ]);
      await expect(log.getByRole('link', { name: /^minutes\.pdf/ })).toBeVisible();
      const picture = log.getByRole('button', { name: 'Open image sunset.png' });
      await expect.poll(() => picture.locator('img').evaluate((el: HTMLImageElement) => el.complete && el.naturalWidth)).toBeGreaterThan(0);
      await page.mouse.move(0, 0);
      await page.screenshot({ path: `screenshots/files-${label}-${scheme}.png` });
      await picture.click();
      await expect(page.getByRole('dialog', { name: 'Image viewer' }).getByRole('img')).toBeVisible();
      await page.screenshot({ path: `screenshots/viewer-${label}-${scheme}.png` });
      await page.keyboard.press('Escape');
      const search = page.getByRole('searchbox', { name: 'Search messages' });
      await search.fill('colours');
      await search.press('Enter');
      await expect(page.getByRole('region', { name: 'Search results' }).locator('mark').first()).toBeVisible();
      await page.screenshot({ path: `screenshots/search-${label}-${scheme}.png` });
      await page.goto('/');
      await expect(page.getByRole('link', { name: room })).toBeVisible();
      await page.screenshot({ path: `screenshots/home-${label}-${scheme}.png` });
      await context.close();
    }
  });
}
