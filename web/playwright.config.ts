import { defineConfig } from '@playwright/test';

/**
 * End-to-end tests against the real system: e2e/global-setup.ts starts `taptrade run` (Redis, feed,
 * ledger, gateway serving web/dist) on a free port in a temporary data dir, and stops it afterwards.
 * Uses the system's Chromium (no browser download): CHROMIUM_PATH, default /usr/bin/chromium.
 * Build first: `npm run build && npm run e2e`.
 */
export default defineConfig({
  testDir: './e2e',
  outputDir: './test-results',
  globalSetup: './e2e/global-setup.ts',
  timeout: 120_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list'], ['html', { open: 'never', outputFolder: 'playwright-report' }]],
  use: {
    headless: true,
    viewport: { width: 1280, height: 860 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' },
  },
});
