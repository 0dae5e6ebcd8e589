import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';

/** A name no earlier run used, so tests never collide in a reused database. */
export function unique(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`.slice(0, 32);
}

export async function signUp(page: Page, username: string, password = 'correct horse battery'): Promise<void> {
  await page.goto('/signup');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign up' }).click();
  await expect(page.getByRole('heading', { name: 'Rooms' })).toBeVisible();
}

/** Waits until the room's socket is live (the page is hydrated and joined). */
export async function waitConnected(page: Page): Promise<void> {
  await expect(page.getByRole('status')).toHaveText(/Connected|Back online/);
}

export async function send(page: Page, text: string): Promise<void> {
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill(text);
  await box.press('Enter');
  await expect(box).toHaveValue('');
}

/**
 * A browser context for a test's second person. With NATTER_URL_2 set (the
 * run against two MariaDB + Redis nodes), it talks to the second node, so
 * every exchange between the two people crosses the cluster.
 */
export async function secondPersonContext(browser: Browser): Promise<BrowserContext> {
  const second = process.env.NATTER_URL_2;
  return browser.newContext(second ? { baseURL: second } : {});
}
