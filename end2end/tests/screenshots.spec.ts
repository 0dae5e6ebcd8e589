import { test, expect } from '@playwright/test';
import { signUp, send, unique, waitConnected } from './helpers';

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
      await expect(page.getByRole('log', { name: 'Messages' })).toContainText('Phone layout');
      await page.screenshot({ path: `screenshots/room-${label}-${scheme}.png` });
      await page.goto('/');
      await expect(page.getByRole('link', { name: room })).toBeVisible();
      await page.screenshot({ path: `screenshots/home-${label}-${scheme}.png` });
      await context.close();
    }
  });
}
