import { type Locator, type Page, expect } from '@playwright/test';

export function appUrl(): string {
  const url = process.env.TAPTRADE_E2E_URL;
  if (url === undefined) throw new Error('TAPTRADE_E2E_URL is not set: run through playwright.config.ts (global setup)');
  return url;
}

/** Open the app (with the test hook on), sign in with a fresh demo wallet, optionally take play money. */
export async function signIn(page: Page, options: { faucet: boolean }): Promise<void> {
  await page.goto(`${appUrl()}/?e2e=1`);
  await page.getByTestId('demo-wallet').click();
  await page.getByTestId('sign-in').click();
  await expect(page.getByTestId('balance')).toHaveText('$0.00');
  if (options.faucet) {
    await page.getByTestId('faucet').click();
    await expect(page.getByTestId('balance')).toHaveText('$100.00');
  }
}

/** Record every data-state a cell takes from now on (the pending state can last only milliseconds). */
export async function recordStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { __states: string[]; __recording?: boolean };
    w.__states = [];
    if (w.__recording) return; // already observing: only the record starts again
    w.__recording = true;
    const layer = document.querySelector('.grid-layer');
    if (layer === null) throw new Error('no grid layer');
    new MutationObserver((mutations) => {
      for (const m of mutations) {
        const el = m.target as HTMLElement;
        w.__states.push(`${el.dataset.cell}=${el.dataset.state}`);
      }
    }).observe(layer, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
  });
}

export async function statesOf(page: Page, cell: string): Promise<string[]> {
  const all = await page.evaluate(() => (window as unknown as { __states: string[] }).__states);
  return all.filter((s) => s.startsWith(`${cell}=`)).map((s) => s.slice(cell.length + 1));
}

/** The earliest open cell on screen whose column stays placeable for at least `leadMs` more. */
export async function pickOpenCell(page: Page, leadMs = 4000): Promise<{ id: string; cell: Locator }> {
  await expect(page.locator('[role="gridcell"][data-state="open"]').first()).toBeAttached();
  const id = await page.evaluate((lead) => {
    const columnMs = 5000; // the default grid, as the system under test runs it
    const closesIn = (column: number) => (column - 1) * columnMs - Date.now();
    const box = document.querySelector('.grid-layer')!.getBoundingClientRect();
    const mid = box.top + box.height / 2;
    const visible = [...document.querySelectorAll<HTMLElement>('[role="gridcell"][data-state="open"]')].filter((el) => {
      const r = el.getBoundingClientRect();
      const onScreen = r.left >= box.left && r.right <= box.right - 10 && r.top >= box.top && r.bottom <= box.bottom;
      return onScreen && closesIn(Number(el.dataset.cell!.split(':')[0])) > lead;
    });
    const column = (el: HTMLElement) => Number(el.dataset.cell!.split(':')[0]);
    const distance = (el: HTMLElement) => Math.abs(el.getBoundingClientRect().top - mid);
    visible.sort((a, b) => column(a) - column(b) || distance(a) - distance(b));
    const chosen = visible[0];
    if (chosen === undefined) throw new Error('no open cell on screen');
    return chosen.dataset.cell!;
  }, leadMs);
  return { id, cell: page.locator(`[data-cell="${id}"]`) };
}

export function dollars(cents: number): string {
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100).toLocaleString('en-US');
  return `${cents < 0 ? '-' : ''}$${whole}.${String(abs % 100).padStart(2, '0')}`;
}

/**
 * Tap (or click) an open cell with `act` and wait for the server's answer to the bet, expecting `want`
 * (an HTTP status, or an API error code). The market moves while the test runs: a quote that moved more
 * than the 2 % the app allows is a correct refusal (`multiplier_moved`), so such a cell is given up and
 * another one tried; any other answer than the one wanted fails, with the answers seen.
 */
export async function answerToTap(
  page: Page,
  act: (cell: Locator) => Promise<void>,
  want: number | string,
  leadMs = 4000,
): Promise<{ id: string; cell: Locator }> {
  const seen: string[] = [];
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const picked = await pickOpenCell(page, leadMs);
    const answer = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/bets' && r.request().method() === 'POST');
    await act(picked.cell);
    const response = await answer;
    const body = await response.text();
    const wanted = typeof want === 'number' ? response.status() === want : body.includes(`"code":"${want}"`);
    if (wanted) return picked;
    seen.push(`${picked.id}: ${response.status()} ${body}`);
    if (!body.includes('"multiplier_moved"')) break;
    await expect(picked.cell).not.toHaveAttribute('data-state', 'rejected', { timeout: 5000 });
  }
  throw new Error(`no answer ${want}: ${seen.join('; ')}`);
}

/** Bet on an open cell by `act` until one is confirmed (201); see answerToTap. */
export function betOnOpenCell(page: Page, act: (cell: Locator) => Promise<void>, leadMs = 4000): Promise<{ id: string; cell: Locator }> {
  return answerToTap(page, act, 201, leadMs);
}
