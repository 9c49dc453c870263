// SQL over the lake: a results table, and the same statement as CSV.

import { test, expect, signIn, shot } from './fixtures';
import * as fs from 'node:fs';

const sql = 'SELECT action, count(*) AS n FROM onepassword_auditevent GROUP BY action ORDER BY n DESC';

test('SQL search returns rows and downloads them as CSV', async ({ page, state }, testInfo) => {
  await signIn(page, state.admin);
  await page.getByRole('navigation').getByRole('link', { name: 'Search' }).click();
  await expect(page.getByRole('heading', { level: 1, name: 'Search' })).toBeVisible();

  await page.getByLabel('Statement').fill(sql);
  await page.getByRole('button', { name: 'Run' }).click();
  const results = page.locator('#results');
  await expect(results).toContainText(/\d+ row\(s\)/);
  await expect(results.locator('thead')).toContainText('action');
  await expect(results.locator('thead')).toContainText('n');
  await expect(results.locator('tbody tr').first()).toBeVisible();
  const shown = await results.locator('tbody tr').count();
  expect(shown).toBeGreaterThan(0);
  await shot(page, testInfo, 'search-sql', 'search');

  // Download CSV posts the same statement: a file, not a page.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Download CSV' }).click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/\.csv$/);
  const file = testInfo.outputPath('result.csv');
  await download.saveAs(file);
  await testInfo.attach('result.csv', { path: file, contentType: 'text/csv' });
  const lines = fs.readFileSync(file, 'utf8').trim().split(/\r?\n/);
  expect(lines[0]).toBe('action,n');
  expect(lines.length - 1).toBe(shown);
  expect(lines[1]).toMatch(/^[a-z]+,\d+$/);

  // A statement that writes is refused, as `opwatch query` refuses it.
  await page.getByLabel('Statement').fill('DELETE FROM onepassword_auditevent');
  await page.getByRole('button', { name: 'Run' }).click();
  await expect(results.locator('.error')).toBeVisible();
});
