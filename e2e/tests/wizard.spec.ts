// The setup wizard as a Panther user knows it, from the login page to the
// first events on the source page, with the emulator's token and its
// address as the custom base URL. The other tests use the source it makes.

import { test, expect, signIn, shot, SOURCE } from './fixtures';

test('the setup wizard, from signing in to the first events on the source page', async ({ page, state }, testInfo) => {
  await page.goto('/');
  await expect(page).toHaveURL(/\/login/);
  await shot(page, testInfo, '01-login');
  await signIn(page, state.admin);
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByText('No source yet.')).toBeVisible();

  // Sources → Create New → search "1Password" → its tile → Start Setup.
  await page.getByRole('navigation').getByRole('link', { name: 'Sources' }).click();
  await expect(page.getByRole('heading', { name: 'Sources' })).toBeVisible();
  await page.locator('main .actions').getByRole('link', { name: 'Create New' }).click();
  await expect(page.getByRole('heading', { name: 'Create a log source' })).toBeVisible();
  const search = page.getByRole('searchbox', { name: 'Search log sources' });
  await search.fill('1Password');
  await search.press('Enter');
  const tile = page.locator('#tiles a.tile', { hasText: '1Password' });
  await expect(tile).toBeVisible();
  await shot(page, testInfo, '02-catalogue');
  await tile.click();
  await expect(page.getByRole('heading', { level: 1, name: '1Password' })).toBeVisible();
  await page.getByRole('link', { name: 'Start Setup' }).click();

  // Step 1: the name.
  await expect(page.getByRole('heading', { name: 'Set up 1Password' })).toBeVisible();
  await page.getByLabel('Source name').fill(SOURCE);
  await page.getByRole('button', { name: 'Setup' }).click();

  // Step 2: the credentials. The token is a password field; the region is
  // told from the token unless chosen; the emulator is a custom base URL.
  const token = page.getByLabel('Access Token');
  await expect(token).toBeVisible();
  await expect(token).toHaveAttribute('type', 'password');
  await expect(page.getByLabel('Region & plan')).toHaveValue('');
  await token.fill(state.emulator.token);
  await page.getByText('Advanced', { exact: true }).click();
  await page.getByLabel('Custom base URL').fill(state.emulator.baseURL);
  await shot(page, testInfo, '03-credentials', 'wizard-credentials');
  await page.getByRole('button', { name: 'Setup' }).click();

  // The token is checked for real: introspection and one read of each
  // log type, then the success screen.
  await expect(page.getByRole('heading', { name: 'Everything looks good!' })).toBeVisible({ timeout: 120_000 });
  await expect(page.getByText('opwatch will now automatically pull & process logs from your account')).toBeVisible();
  for (const lt of ['OnePassword.SignInAttempt', 'OnePassword.ItemUsage', 'OnePassword.AuditEvent']) {
    await expect(page.getByRole('row', { name: new RegExp(lt.replace('.', '\\.')) })).toContainText('read ok');
  }
  await expect(page.getByRole('heading', { name: 'Detection Packs' })).toBeVisible();
  // "Trigger an alert when no events are processed": yes, 1 day.
  const alarm = page.getByRole('group', { name: 'Trigger an alert when no events are processed' });
  await expect(alarm.getByLabel('Yes')).toBeChecked();
  await expect(alarm.locator('#alarm_value')).toHaveValue('1');
  await expect(alarm.getByLabel('unit')).toHaveValue('days');
  await expect(page.locator('body')).not.toContainText(state.emulator.token);
  await shot(page, testInfo, '04-success', 'wizard-success');
  await page.getByRole('button', { name: 'Finish' }).click();

  // The source page, where the first events arrive (it refreshes itself).
  await expect(page.getByRole('heading', { level: 1, name: SOURCE })).toBeVisible();
  await expect(page.getByRole('status')).toContainText('The source is set up');
  const newest = page.locator('section', { has: page.getByRole('heading', { name: 'Newest events' }) });
  await expect(newest.locator('tbody tr').first()).toBeVisible({ timeout: 240_000 });
  // The state beside the title comes with the same refresh, without a
  // reload (it said "waiting for the first events" before them).
  const badge = page.locator('.actions', { has: page.getByRole('heading', { level: 1, name: SOURCE }) }).locator('.status');
  await expect(badge).toHaveText('healthy');
  await expect(page.getByText('Trigger an alert when no events are processed: yes, after 1 day.')).toBeVisible();
  await shot(page, testInfo, '05-source');
});
