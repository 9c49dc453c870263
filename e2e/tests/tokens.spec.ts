// The wizard's refusals and warnings: a malformed token is refused with a
// message that says what it is, and nothing is stored; so is a token that
// grants no log type; a token that lacks some log types is accepted with a
// warning naming each missing one.

import { test, expect, signIn, shot, type Emulator } from './fixtures';
import type { Page } from '@playwright/test';

// credentials walks the wizard to its credentials step and submits them.
async function credentials(page: Page, name: string, token: string, baseURL: string) {
  await page.goto('/sources/new/onepassword/setup');
  await page.getByLabel('Source name').fill(name);
  await page.getByRole('button', { name: 'Setup' }).click();
  await page.getByLabel('Access Token').fill(token);
  await page.getByText('Advanced', { exact: true }).click();
  await page.getByLabel('Custom base URL').fill(baseURL);
  await page.getByRole('button', { name: 'Setup' }).click();
}

test('a malformed token is refused with a clear message and nothing is stored', async ({ page, state }, testInfo) => {
  await signIn(page, state.admin);
  const name = 'Malformed token';
  await credentials(page, name, 'this is not a token', state.emulator.baseURL);
  const err = page.getByRole('alert');
  await expect(err).toContainText('This is not a 1Password Events API token');
  await expect(err).toContainText('paste the whole bearer token');
  // Still on the credentials step, the token not put back into the form.
  await expect(page.getByLabel('Access Token')).toHaveValue('');
  await expect(page.getByText('Source name:')).toContainText(name);
  await shot(page, testInfo, 'malformed-token');

  await page.goto('/sources');
  await expect(page.getByRole('heading', { name: 'Sources' })).toBeVisible();
  await expect(page.getByRole('link', { name, exact: true })).toHaveCount(0);
});

test('a token that grants no log type is refused and nothing is stored', async ({ page, state }, testInfo) => {
  await signIn(page, state.admin);
  const name = 'No features';
  await credentials(page, name, state.none.token, state.none.baseURL);
  const err = page.getByRole('alert');
  await expect(err).toContainText('The token grants none of sign-in attempts, item usage and audit events', { timeout: 120_000 });
  await expect(err).toContainText("issue a token with at least one of them ticked in 1Password's Events Reporting integration");
  await expect(page.getByLabel('Access Token')).toHaveValue('');
  await expect(page.locator('body')).not.toContainText(state.none.token);
  await shot(page, testInfo, 'no-features-token');

  await page.goto('/sources');
  await expect(page.getByRole('heading', { name: 'Sources' })).toBeVisible();
  await expect(page.getByRole('link', { name, exact: true })).toHaveCount(0);
});

test('a token without item usages and audit events is accepted with a warning for each', async ({ page, state }, testInfo) => {
  await signIn(page, state.admin);
  const name = 'Sign-ins only';
  const partial: Emulator = state.partial;
  await credentials(page, name, partial.token, partial.baseURL);
  await expect(page.getByRole('heading', { name: 'Everything looks good!' })).toBeVisible({ timeout: 120_000 });
  await expect(page.getByText('The token lacks Item usage events: opwatch does not collect OnePassword.ItemUsage')).toBeVisible();
  await expect(page.getByText('The token lacks Audit events: opwatch does not collect OnePassword.AuditEvent')).toBeVisible();
  await expect(page.getByRole('row', { name: /OnePassword\.ItemUsage/ })).toContainText('not granted by the token');
  await expect(page.getByRole('row', { name: /OnePassword\.AuditEvent/ })).toContainText('not granted by the token');
  await expect(page.getByRole('row', { name: /OnePassword\.SignInAttempt/ })).toContainText('read ok');
  await shot(page, testInfo, 'unscoped-token');
  await page.getByRole('button', { name: 'Finish' }).click();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
  await expect(page.locator('dl.facts')).toContainText('signinattempts');

  // Then deleted, with its name typed to confirm: the other tests see one
  // source.
  await page.getByRole('link', { name: 'Delete…' }).click();
  await expect(page.getByRole('heading', { name: `Delete ${name}?` })).toBeVisible();
  await page.getByLabel("Type the source's name to confirm").fill(name);
  await page.getByRole('button', { name: 'Delete the source' }).click();
  await expect(page.getByRole('heading', { name: 'Sources' })).toBeVisible();
  await expect(page.getByRole('link', { name, exact: true })).toHaveCount(0);
});
