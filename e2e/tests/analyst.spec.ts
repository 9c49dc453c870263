// An analyst (added with `opwatch users add --role analyst`) reads sources
// and triages, but cannot change a source: the controls are not shown and
// the server refuses the change when a form is sent anyway.

import { test, expect, signIn, shot, openSource } from './fixtures';

test('an analyst is refused a source change', async ({ page, state }, testInfo) => {
  await signIn(page, state.analyst);
  await expect(page.locator('header .who')).toContainText('analyst');
  const nav = page.getByRole('navigation');
  await expect(nav.getByRole('link', { name: 'Sources' })).toBeVisible();
  await expect(nav.getByRole('link', { name: 'Users' })).toHaveCount(0);
  await expect(nav.getByRole('link', { name: 'API tokens' })).toHaveCount(0);

  // The source page without the controls that change it.
  await page.goto('/sources');
  await expect(page.getByRole('link', { name: 'Create New' })).toHaveCount(0);
  await openSource(page);
  const id = page.url().split('/sources/')[1];
  await expect(page.getByRole('heading', { name: 'Log types' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Pause' })).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Rotate the token' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Delete…' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Save the alarm' })).toHaveCount(0);
  await shot(page, testInfo, 'analyst-source');

  // The wizard is refused.
  const res = await page.goto('/sources/new');
  expect(res!.status()).toBe(403);
  await expect(page.locator('body')).toContainText('only an admin can change this; your role is analyst');

  // A form sent anyway, as the browser sends it (same origin, with the
  // session cookie): pausing a log type is refused and nothing changes.
  await openSource(page);
  const [resp] = await Promise.all([
    page.waitForResponse((r) => r.url().endsWith(`/sources/${id}/streams/OnePassword.AuditEvent/pause`)),
    page.evaluate((action) => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = action;
      document.body.appendChild(f);
      f.submit();
    }, `/sources/${id}/streams/OnePassword.AuditEvent/pause`),
  ]);
  expect(resp.status()).toBe(403);
  await expect(page.getByRole('heading', { name: 'Forbidden' })).toBeVisible();
  await expect(page.locator('body')).toContainText('only an admin can change this; your role is analyst: ask an admin');
  await shot(page, testInfo, 'analyst-refused');

  await openSource(page);
  await expect(page.getByRole('row', { name: /OnePassword\.AuditEvent/ }).locator('.status')).not.toHaveText('paused');
});
