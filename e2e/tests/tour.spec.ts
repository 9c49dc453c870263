// Every page of the console, as an admin and as an analyst: none shows a
// raw Go value (a zero time, a map, a nil, a formatting error) or a time
// with nanoseconds, and each has a screenshot among the run's artifacts.

import { test, expect, signIn, shot, openSource, type Credentials } from './fixtures';
import type { Page } from '@playwright/test';

const nanoseconds = /\d\d:\d\d:\d\d\.\d{4,}/; // a time as stored, not as shown

// raw finds what a template leaks when it prints a Go value as it is.
const raw = [
  /0001-01-01/,
  /map\[/,
  /<nil>/,
  /%!/,
  nanoseconds,
  /\+0000 UTC/, // time.Time's String
  /\[\]/, // an empty slice printed
];

async function noRawValues(page: Page) {
  // The page's own words: event data and rule output (JSON in pre, code
  // in code) show what they hold, and the schemas page shows the stored
  // form of a time on purpose.
  const text = await page.evaluate(() => {
    const body = document.body.cloneNode(true) as HTMLElement;
    body.querySelectorAll('pre, code, textarea').forEach((e) => e.remove());
    return body.innerText;
  });
  const schemas = new URL(page.url()).pathname === '/schemas';
  for (const re of raw) {
    if (schemas && re === nanoseconds) continue;
    const m = text.match(re);
    expect(m, `${page.url()} shows ${re}: …${m ? text.slice(Math.max(0, m.index! - 80), m.index! + 80) : ''}…`).toBeNull();
  }
}

// pages lists the console's pages, reached from its own links.
async function pages(page: Page): Promise<string[]> {
  const list = ['/', '/sources', '/alerts', '/detections', '/search', '/schemas', '/destinations', '/users', '/tokens',
    '/sources/new', '/sources/new/onepassword', '/sources/new/onepassword/setup', '/destinations/new', '/no-such-page'];
  await openSource(page);
  const src = new URL(page.url()).pathname;
  list.push(src, src + '/quarantine', src + '/delete');
  await page.goto('/alerts');
  const alerts = page.locator('main table tbody tr a[href^="/alerts/"]');
  if (await alerts.count()) list.push((await alerts.first().getAttribute('href'))!);
  await page.goto('/detections');
  const rule = await page.locator('#rules tbody tr a[href^="/detections/rules/"]').first().getAttribute('href');
  if (rule) list.push(rule);
  await page.goto('/destinations');
  const dests = page.locator('main a[href^="/destinations/"]:not([href="/destinations/new"])');
  if (await dests.count()) list.push((await dests.first().getAttribute('href'))!);
  return list;
}

for (const role of ['admin', 'analyst'] as const) {
  test(`every page as an ${role} shows no raw value`, async ({ page, state }, testInfo) => {
    const who: Credentials = state[role];
    await signIn(page, who);
    if (role === 'admin') {
      // A destination, so that its page is seen too (nothing listens at
      // its address: its deliveries fail, which the page shows).
      await page.goto('/destinations/new?type=webhook');
      await page.getByLabel('Name', { exact: true }).fill('Tour webhook');
      await page.getByLabel('Webhook URL').fill('http://127.0.0.1:9/hook');
      await page.getByRole('button', { name: 'Add destination' }).click();
      await expect(page.getByRole('heading', { level: 1, name: 'Tour webhook' })).toBeVisible();
      await page.getByRole('button', { name: 'Send a test alert' }).click();
      await expect(page.getByText(/Test alert (not )?delivered/)).toBeVisible();
      await noRawValues(page);
      await shot(page, testInfo, 'admin-destination-tested');
    }
    for (const p of await pages(page)) {
      await page.goto(p);
      await expect(page.locator('header .who')).toContainText(who.name);
      await noRawValues(page);
      await shot(page, testInfo, `${role}${p.replace(/[^a-z0-9]+/gi, '-')}`);
    }
  });
}
