// What the tests share: the servers globalSetup started, signing in, and
// screenshots kept as artifacts (and, with OPWATCH_E2E_DOCS=1, as the
// pictures of docs/console.md).

import { test as base, expect, type Page, type TestInfo } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Credentials = { name: string; password: string };
export type Emulator = { baseURL: string; token: string };

// State is what globalSetup hands the tests.
export type State = {
  url: string; // the console, http://127.0.0.1:PORT
  admin: Credentials; // the first admin, with serve's one-time password
  analyst: Credentials; // added with `opwatch users add --role analyst`
  emulator: Emulator; // every log type, planted attacks, live traffic
  partial: Emulator; // a token that grants sign-in attempts only
  none: Emulator; // a token that grants no feature (emulator --features none)
};

// The source the wizard creates and the other tests read.
export const SOURCE = 'My 1Password logs';

function loadState(): State {
  const s = process.env.OPWATCH_E2E_STATE;
  if (!s) throw new Error('OPWATCH_E2E_STATE is not set: run the tests with `npx playwright test` in e2e/, whose globalSetup starts opwatch');
  return JSON.parse(s) as State;
}

export const test = base.extend<{ state: State }>({
  state: async ({}, use) => {
    await use(loadState());
  },
  // The console's port is known only once globalSetup has started it.
  baseURL: async ({}, use) => {
    await use(loadState().url);
  },
  // Every page is watched for script errors and Content-Security-Policy
  // violations (the console has no inline script or style, and htmx runs
  // under the policy): any fails the test. A 4xx answer the test asks for
  // is not one.
  page: async ({ page }, use) => {
    const errors: string[] = [];
    // Chrome's own message says a policy was violated, not by what; the
    // violation event names the element, and replaces that message here.
    await page.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        const t = e.target as Element | null;
        const what = t && 'outerHTML' in t ? t.outerHTML.slice(0, 200) : String(t);
        console.error(`CSP violation of ${e.violatedDirective} by ${what} (sample ${JSON.stringify(e.sample)})`);
      });
    });
    page.on('pageerror', (e) => errors.push(`page error on ${page.url()}: ${e.message}`));
    page.on('console', (m) => {
      const text = m.text();
      if (m.type() !== 'error' || /^Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
      if (/^Applying inline style violates|^Refused to apply inline style/.test(text)) return; // told by the event
      errors.push(`on ${page.url()}: ${text}`);
    });
    await use(page);
    expect(errors, 'errors in the browser console').toEqual([]);
  },
});

export { expect };

// signIn signs in through the login page (any page sends there first).
export async function signIn(page: Page, who: Credentials, to = '/') {
  await page.goto(to);
  await expect(page.getByRole('heading', { name: 'Sign in to opwatch' })).toBeVisible();
  await page.getByLabel('User name').fill(who.name);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('header .who')).toContainText(who.name);
}

// shot keeps a full-page screenshot of the page as an artifact of the test
// (in its output folder and attached to the report). With docs set and
// OPWATCH_E2E_DOCS=1 it also writes docs/img/console-<docs>.png, the
// visible part only, which keeps each picture small.
export async function shot(page: Page, testInfo: TestInfo, name: string, docs?: string) {
  const file = testInfo.outputPath(`${name}.png`);
  // caret 'initial': hiding the caret leaves style="" on every input,
  // which htmx then copies onto the next page's element of the same id, a
  // violation of the policy that the page itself never makes.
  await page.screenshot({ path: file, fullPage: true, animations: 'disabled', caret: 'initial' });
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
  if (docs && process.env.OPWATCH_E2E_DOCS === '1') {
    const dir = path.resolve(__dirname, '..', '..', 'docs', 'img');
    fs.mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: path.join(dir, `console-${docs}.png`), animations: 'disabled', caret: 'initial' });
  }
}

// openSource goes to the wizard's source page through the sources list.
export async function openSource(page: Page) {
  await page.goto('/sources');
  await page.getByRole('link', { name: SOURCE, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: SOURCE })).toBeVisible();
}
