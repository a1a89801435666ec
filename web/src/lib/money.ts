/**
 * Money (DESIGN §3), mirrored from src/taptrade/money.py: integer cents, multipliers as integers in
 * 1/10,000 ("e4") shown as 4-decimal strings. Never floats for money; formatting only for display.
 */

export const MULTIPLIER_SCALE = 10_000;
/** The client accepts a multiplier down to 98 % of the one shown (slippage guard, API `min_multiplier`). */
export const SLIPPAGE_PERCENT = 98;

const MULTIPLIER_RE = /^(0|[1-9][0-9]{0,5})(?:\.([0-9]{1,4}))?$/;

/** 25000 -> "2.5000". */
export function formatMultiplier(e4: number): string {
  if (!Number.isSafeInteger(e4) || e4 < 0) throw new RangeError(`bad multiplier: ${e4}`);
  const whole = Math.floor(e4 / MULTIPLIER_SCALE);
  const frac = e4 % MULTIPLIER_SCALE;
  return `${whole}.${String(frac).padStart(4, '0')}`;
}

/** "2.5", "2.5000" or "2" -> 25000; null for anything with more than 4 places or not a plain decimal. */
export function parseMultiplier(text: string): number | null {
  const match = MULTIPLIER_RE.exec(text);
  if (match === null || match[0].length !== text.length) return null;
  const whole = Number(match[1]);
  const frac = Number((match[2] ?? '').padEnd(4, '0'));
  return whole * MULTIPLIER_SCALE + frac;
}

/** The `min_multiplier` a tap signs: floor(shown x 0.98) at 4 decimals, in integer 1/10,000 units. */
export function minMultiplier(shown: string): string {
  const e4 = parseMultiplier(shown);
  if (e4 === null) throw new RangeError(`not a multiplier: ${shown}`);
  return formatMultiplier(Math.floor((e4 * SLIPPAGE_PERCENT) / 100));
}

/** What a winning bet pays, stake included: floor(amount x multiplier). BigInt: the product can pass 2^53. */
export function payoutCents(amountCents: number, multiplierE4: number): number {
  if (amountCents < 0 || multiplierE4 < 0) throw new RangeError('amount and multiplier must not be negative');
  return Number((BigInt(amountCents) * BigInt(multiplierE4)) / BigInt(MULTIPLIER_SCALE));
}

/** 123456 -> "$1,234.56"; -250 -> "-$2.50" (as money.format_cents). */
export function formatCents(amountCents: number): string {
  const sign = amountCents < 0 ? '-' : '';
  const abs = Math.abs(amountCents);
  const dollars = Math.floor(abs / 100);
  const cents = abs % 100;
  return `${sign}$${groupThousands(dollars)}.${String(cents).padStart(2, '0')}`;
}

/** Whole dollars without cents ("$97,120", "$10"); cents only when there are some ("$2.50"). */
export function formatCentsShort(amountCents: number): string {
  return amountCents % 100 === 0
    ? `${amountCents < 0 ? '-' : ''}$${groupThousands(Math.abs(amountCents) / 100)}`
    : formatCents(amountCents);
}

/** A signed amount for the ledger: "+$5.00" / "-$1.00". */
export function formatSignedCents(amountCents: number): string {
  return amountCents > 0 ? `+${formatCents(amountCents)}` : formatCents(amountCents);
}

/** "2.5000" -> "2.50x" (two decimals, truncated: never shows more than the quote). */
export function formatMultiplierShort(text: string): string {
  const [whole, frac = ''] = text.split('.');
  return `${whole}.${frac.padEnd(2, '0').slice(0, 2)}x`;
}

/** "$12.34" or "12.34" or "12" -> 1234 cents; null when not a plain non-negative amount. */
export function parseDollars(text: string): number | null {
  const match = /^\$?\s*([0-9]{1,9})(?:\.([0-9]{1,2}))?$/.exec(text.trim().replace(/,/g, ''));
  if (match === null) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}

function groupThousands(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}
