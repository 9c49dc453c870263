import { defineConfig } from '@playwright/test';

// The console's browser tests. globalSetup builds opwatch, starts two
// emulators and `opwatch serve` on loopback with a new database, and stops
// them after the run. Debian's chromium drives the pages: never a browser
// that Playwright downloads (`playwright install` is not used).
//
// The tests share one server and build on each other's data (the wizard
// creates the source the other tests read), so they run one at a time: the
// "wizard" project first, the rest after it. On a loaded 2-core machine
// every wait is Playwright's auto-waiting with generous timeouts.
export default defineConfig({
  testDir: './tests',
  outputDir: './test-results',
  globalSetup: './global-setup.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 5 * 60_000,
  expect: { timeout: 30_000 },
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    headless: true,
    viewport: { width: 1280, height: 860 },
    actionTimeout: 30_000,
    navigationTimeout: 60_000,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.OPWATCH_E2E_CHROMIUM || '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [
    { name: 'wizard', testMatch: /wizard\.spec\.ts/ },
    { name: 'console', testIgnore: /wizard\.spec\.ts/, dependencies: ['wizard'] },
  ],
});
