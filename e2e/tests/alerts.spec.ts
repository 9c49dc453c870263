// A planted attack found by the detections, triaged and resolved on its
// alert page, with a pivot to the indicator search.

import { test, expect, signIn, shot } from './fixtures';

test('a planted alert is found, assigned, triaged and resolved', async ({ page, state }, testInfo) => {
  await signIn(page, state.admin);

  // The emulator plants attacks in the history the source reads; detect
  // raises alerts as it evaluates the ingested events. The list does not
  // refresh itself, so it is loaded again until an open rule alert is on it.
  const rows = page.locator('main table tbody tr');
  await expect(async () => {
    await page.goto('/alerts?status=open&type=rule');
    await expect(rows.first()).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 240_000, intervals: [3_000] });
  await expect(page.getByLabel('Status')).toHaveValue('open');
  await shot(page, testInfo, 'alerts');

  const link = rows.first().getByRole('link').first();
  const title = (await link.textContent())!.trim();
  await link.click();
  await expect(page).toHaveURL(/\/alerts\/[^/?]+$/);
  const alertURL = page.url();

  // The alert page: title, severity, status, matched events, triage.
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(title);
  const status = page.locator('main > p').filter({ has: page.locator('.sev') }).locator('.status');
  await expect(status).toHaveText('open');
  const matched = page.locator('section', { has: page.getByRole('heading', { name: /Matched events/ }) });
  await expect(matched.locator('details').first()).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Delivery' })).toBeVisible();
  await shot(page, testInfo, 'alert-open', 'alert');

  await page.getByLabel('Assignee').fill(state.admin.name);
  await page.getByRole('button', { name: 'Assign' }).click();
  await expect(page.getByRole('status')).toHaveText(`Assigned to ${state.admin.name}.`);

  await page.getByLabel('Comment').fill('Looked at it: the emulator planted this one.');
  await page.getByRole('button', { name: 'Triage', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Marked triaged.');
  await expect(status).toHaveText('triaged');

  await page.getByLabel('Comment').fill('Closing: a test of the console.');
  await page.getByRole('button', { name: 'Resolve', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Resolved.');
  await expect(status).toHaveText('resolved');
  await expect(page.getByRole('button', { name: 'Resolve', exact: true })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Reopen', exact: true })).toBeVisible();

  // The history keeps who did what, with the comments.
  const history = page.locator('section', { has: page.getByRole('heading', { name: 'History' }) });
  const entry = (action: string) => history.getByRole('row').filter({ has: page.getByRole('cell', { name: new RegExp(`^${action}\\b`) }) });
  await expect(entry('assign')).toContainText(state.admin.name);
  await expect(entry('triage')).toContainText('Looked at it: the emulator planted this one.');
  await expect(entry('triage')).toContainText('open → triaged');
  await expect(entry('resolve')).toContainText('Closing: a test of the console.');
  await expect(entry('resolve')).toContainText('triaged → resolved');
  await expect(entry('resolve')).toContainText(state.admin.name);
  await shot(page, testInfo, 'alert-resolved');

  // Listed as resolved, and no longer as open.
  await page.goto('/alerts?status=resolved');
  await expect(page.getByRole('link', { name: title, exact: true }).first()).toBeVisible();

  // A pivot from the alert: its first indicator across the three log types.
  await page.goto(alertURL);
  const pivots = page.locator('section', { has: page.getByRole('heading', { name: 'Pivot' }) }).getByRole('link');
  await expect(pivots.first()).toBeVisible();
  const indicator = (await pivots.first().textContent())!.trim();
  await pivots.first().click();
  await expect(page.getByRole('heading', { level: 1, name: 'Search' })).toBeVisible();
  await expect(page.getByRole('searchbox', { name: 'E-mail or IP' })).toHaveValue(indicator);
  await expect(page.locator('main table tbody tr').first()).toBeVisible();
  await shot(page, testInfo, 'indicator-search');
});
