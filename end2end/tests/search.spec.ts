import { test, expect, type Page } from '@playwright/test';
import { send, signUp, twoInARoom, unique, waitConnected } from './helpers';

/** Searches from the box in the top bar; the results' list. */
async function search(page: Page, words: string) {
  const box = page.getByRole('searchbox', { name: 'Search messages' });
  await box.fill(words);
  await box.press('Enter');
  await expect(page).toHaveURL(/\/search\?/);
  return page.getByRole('region', { name: 'Search results' });
}

test('search finds Chinese and English in the rooms one may read, marked, by room and author', async ({ browser }) => {
  const { alice, bob, bobName, aliceName, room, close } = await twoInARoom(browser, 'Find');
  const tag = unique('t').replace(/_/g, '');
  await send(alice, `今天天气很好 ${tag}`);
  await send(bob, `天气预报 ${tag}`);
  await send(alice, `明天的会议改到三点 ${tag}`);
  await send(alice, `We deploy on Friday ${tag}`);
  // Alice's private room: never found by Bob.
  await alice.goto('/');
  await alice.getByLabel('Room name').fill(unique('Hidden'));
  await alice.getByLabel('Private room (only members you add can see it)').check();
  await alice.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(alice);
  await send(alice, `secret 天气 ${tag}`);

  const results = await search(bob, `天气 ${tag}`);
  const hits = results.getByRole('listitem');
  await expect(hits).toHaveCount(2);
  await expect(hits.first()).toContainText('天气预报');
  await expect(hits.nth(1)).toContainText('今天天气很好');
  await expect(results.locator('mark', { hasText: '天气' })).toHaveCount(2);
  await expect(results).not.toContainText('secret');
  // Alice sees her private room's message too, newest first.
  const hers = await search(alice, `天气 ${tag}`);
  await expect(hers.getByRole('listitem')).toHaveCount(3);
  await expect(hers.getByRole('listitem').first()).toContainText('secret');

  // Two characters find a word inside a sentence.
  await expect((await search(bob, `会议 ${tag}`)).getByRole('listitem')).toHaveCount(1);
  // English: whole words, any case; the search box keeps the query.
  const english = await search(bob, `FRIDAY ${tag}`);
  await expect(english.getByRole('listitem')).toHaveCount(1);
  await expect(english.locator('mark', { hasText: 'Friday' })).toBeVisible();
  await expect(bob.getByRole('searchbox', { name: 'Search messages' })).toHaveValue(`FRIDAY ${tag}`);

  // By author, and by room.
  await bob.getByLabel('From', { exact: true }).fill(bobName);
  await bob.getByRole('searchbox', { name: 'Search messages' }).fill(`天气 ${tag}`);
  await bob.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(bob.getByRole('region', { name: 'Search results' }).getByRole('listitem')).toHaveCount(1);
  await expect(bob.getByRole('region', { name: 'Search results' })).toContainText('天气预报');
  await bob.getByLabel('From', { exact: true }).fill(aliceName);
  await bob.getByLabel('Room', { exact: true }).selectOption({ label: room });
  await bob.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(bob).toHaveURL(/room=\d+/);
  await expect(bob.getByRole('region', { name: 'Search results' }).getByRole('listitem')).toHaveCount(1);
  await expect(bob.getByRole('region', { name: 'Search results' })).toContainText('今天天气很好');

  // Nothing to search for, and nothing found, each say so.
  await bob.goto('/search?q=%25%25%20**');
  await expect(bob.getByRole('alert')).toContainText('Type a word to search for');
  await bob.goto(`/search?q=nothingmatches${tag}`);
  await expect(bob.getByText('No messages found.')).toBeVisible();
  await close();
});

test('a result opens its room at the message, with the messages around it and not the whole history', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUp(page, unique('reader'));
  const room = unique('Long');
  await page.getByLabel('Room name').fill(room);
  await page.getByRole('button', { name: 'Create room' }).click();
  await waitConnected(page);
  const tag = unique('x').replace(/_/g, '');
  // 130 messages: the one looked for is the 5th; the room opens with the newest 50.
  for (let i = 1; i <= 130; i++) {
    await send(page, i === 5 ? `the needle ${tag}` : `line ${i}`);
  }
  // Paging: the room's 129 lines, 20 at a time, newest first.
  const lines = (await search(page, 'line')).getByRole('listitem');
  await page.getByRole('combobox', { name: 'Room' }).selectOption({ label: room });
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await expect(page).toHaveURL(/room=\d+/);
  await expect(lines).toHaveCount(20);
  await expect(lines.first()).toContainText('line 130');
  const more = page.getByRole('button', { name: 'Load more' });
  for (const shown of [40, 60, 80, 100, 120, 129]) {
    await more.click();
    await expect(lines).toHaveCount(shown);
  }
  await expect(lines.last()).toContainText('line 1');
  await expect(lines.last()).not.toContainText('line 10');
  const results = await search(page, `needle ${tag}`);
  await expect(results.getByRole('listitem')).toHaveCount(1);
  await results.getByRole('link').click();
  await expect(page.getByRole('heading', { name: room })).toBeVisible();
  await waitConnected(page);
  const log = page.getByRole('log', { name: 'Messages' });
  const needle = log.locator('article', { hasText: `the needle ${tag}` });
  await expect(needle).toBeInViewport();
  await expect(needle).toBeFocused();
  // Around it: its neighbours; the newest; nothing from the middle yet.
  await expect(log.getByText('line 30', { exact: true })).toHaveCount(1);
  await expect(log.getByText('line 130', { exact: true })).toHaveCount(1);
  await expect(log.getByText('line 60', { exact: true })).toHaveCount(0);
  // The gap fills on asking, and live messages still arrive.
  const between = log.getByRole('button', { name: 'Load messages in between' });
  await between.click();
  await expect(log.getByText('line 60', { exact: true })).toHaveCount(1);
  await expect(between).toHaveCount(0);
  await send(page, `after ${tag}`);
  await expect(log.getByText(`after ${tag}`)).toHaveCount(1);
  await context.close();
});

test('search refuses what it cannot run with a reason, and limits how often', async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signUp(page, unique('prober'));
  const ask = (query: string) => page.request.post('/api/search', { form: { query } });
  const long = await ask('a'.repeat(10_000));
  expect(long.status()).toBe(400);
  expect(await long.text()).toContain('at most 200 characters');
  for (const metacharacters of ['', "' OR 1=1 --", '.*(a|b)+$', '%_\\']) {
    const answer = await ask(metacharacters);
    if (metacharacters.match(/[a-z0-9]/i)) {
      expect(answer.status(), metacharacters).toBe(200);
    } else {
      expect(answer.status(), metacharacters).toBe(400);
      expect(await answer.text()).toContain('Type a word to search for');
    }
  }
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await ask(`word${i}`)).status());
  expect(statuses).toContain(429);
  await context.close();
});
