// A screenshot of each main page, kept as an artifact of the run (and the
// pictures of docs/console.md with OPWATCH_E2E_DOCS=1); each page is
// checked to show what it is for.

import { test, expect, signIn, shot, openSource } from './fixtures';

test('each main page, as an admin sees it', async ({ page, state }, testInfo) => {
  await signIn(page, state.admin);

  // The overview, once detect has raised an alert (it does not refresh
  // itself).
  await expect(async () => {
    await page.goto('/');
    await expect(page.locator('section', { has: page.getByRole('heading', { name: 'Open alerts' }) }).locator('table')).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 240_000, intervals: [3_000] });
  await expect(page.getByRole('heading', { name: /Events, last 24 hours/ })).toBeVisible();
  await expect(page.locator('main svg').first()).toBeVisible();
  await shot(page, testInfo, 'overview', 'overview');

  await page.goto('/sources');
  await expect(page.getByRole('heading', { name: 'Sources' })).toBeVisible();
  await expect(page.getByText('healthy', { exact: true })).toBeVisible();
  await shot(page, testInfo, 'sources');

  await openSource(page);
  await expect(page.locator('.actions .status')).toHaveText('healthy');
  await shot(page, testInfo, 'source', 'source');

  await page.goto('/alerts');
  await expect(page.getByRole('heading', { name: 'Alerts' })).toBeVisible();
  await expect(page.locator('main table tbody tr').first()).toBeVisible();
  await shot(page, testInfo, 'alerts-all');

  await page.getByRole('navigation').getByRole('link', { name: 'Detections' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Detections' })).toBeVisible();
  await expect(page.getByText(/\d+ rule\(s\)/)).toBeVisible();
  await shot(page, testInfo, 'detections');

  // A rule with tests: run them.
  await page.locator('#rules tbody tr').filter({ has: page.locator('td.num', { hasNotText: /^0$/ }) }).first().getByRole('link').click();
  await expect(page.getByRole('heading', { name: 'Code' })).toBeVisible();
  await page.getByRole('button', { name: 'Run tests' }).click();
  await expect(page.locator('#tests')).toContainText(/\d+ of \d+ passed/);
  await shot(page, testInfo, 'rule');

  await page.goto('/search');
  await expect(page.getByRole('heading', { level: 1, name: 'Search' })).toBeVisible();
  await shot(page, testInfo, 'search');

  await page.goto('/schemas');
  await expect(page.getByRole('heading', { level: 1, name: 'Schemas' })).toBeVisible();
  await expect(page.getByText('OnePassword.SignInAttempt').first()).toBeVisible();
  await shot(page, testInfo, 'schemas');

  await page.goto('/destinations');
  await expect(page.getByRole('heading', { level: 1, name: 'Destinations' })).toBeVisible();
  await shot(page, testInfo, 'destinations');

  await page.goto('/users');
  await expect(page.getByRole('heading', { level: 1, name: 'Users' })).toBeVisible();
  await expect(page.getByRole('row', { name: /analyst/ })).toBeVisible();
  await shot(page, testInfo, 'users');

  await page.goto('/tokens');
  await expect(page.getByRole('heading', { level: 1, name: 'API tokens' })).toBeVisible();
  await shot(page, testInfo, 'tokens');
});
