import { expect, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { deflateSync, crc32 } from 'node:zlib';

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

/**
 * Waits until the page is hydrated: before that, its controls are plain
 * HTML (forms still post, but a select's change or a click does nothing).
 */
export async function hydrated(page: Page): Promise<void> {
  await page.locator('body[data-hydrated]').waitFor({ state: 'attached' });
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

/** Opens a new room both people are in: `first` creates it, `second` follows. Its name. */
export async function sharedRoom(first: Page, second: Page, prefix: string): Promise<string> {
  const room = unique(prefix);
  await first.getByLabel('Room name').fill(room);
  await first.getByRole('button', { name: 'Create room' }).click();
  await expect(first.getByRole('heading', { name: room })).toBeVisible();
  await waitConnected(first);
  await second.reload();
  await second.getByRole('link', { name: room }).click();
  await waitConnected(second);
  return room;
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

/** Two people, each in a browser context of their own, both in a new room. */
export interface TwoInARoom {
  alice: Page;
  bob: Page;
  aliceName: string;
  bobName: string;
  room: string;
  close: () => Promise<void>;
}

/**
 * Signs two people up (Bob on the second node in the two-node run) and
 * opens a new room, named from `prefix`, for both.
 */
export async function twoInARoom(browser: Browser, prefix: string): Promise<TwoInARoom> {
  const aliceContext = await browser.newContext();
  const bobContext = await secondPersonContext(browser);
  const alice = await aliceContext.newPage();
  const bob = await bobContext.newPage();
  const aliceName = unique('alice');
  const bobName = unique('bob');
  await signUp(alice, aliceName);
  await signUp(bob, bobName);
  const room = await sharedRoom(alice, bob, prefix);
  const close = async () => {
    await aliceContext.close();
    await bobContext.close();
  };
  return { alice, bob, aliceName, bobName, room, close };
}

type Rgb = [number, number, number];

/**
 * A `width` × `height` PNG, made here (no image library needed): of one
 * colour, or coloured by `paint(x, y)`.
 */
export function png(width: number, height: number, paint: Rgb | ((x: number, y: number) => Rgb)): Buffer {
  const colour = typeof paint === 'function' ? paint : () => paint;
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Array.from({ length: height }, (_, y) =>
    Buffer.from([0, ...Array.from({ length: width }, (_, x) => colour(x, y)).flat()]),
  );
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
