/** Display texts: UTC clock times, cell descriptions for screen readers (and tests). */
import { formatCents, formatCentsShort, formatMultiplierShort } from './money';

/** 1763700005000 -> "04:40:05" (UTC, the grid's clock). */
export function formatTimeUtc(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

/** "2026-11-21 09:03:37" (UTC) for history and ledger rows. */
export function formatDateTimeUtc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 10)} ${formatTimeUtc(ms)}`;
}

export interface CellDescription {
  state: string;
  stake: number; // the selected stake (open cells) or the bet's amount
  lower: number;
  upper: number;
  startMs: number;
  endMs: number;
  multiplier: string | null;
  payout: number | null;
  reason: string | null;
}

/** "Bet $10 on $97,120–$97,130 from 12:00:05 to 12:00:10 at 2.50x", or the bet's state on the cell. */
export function cellLabel(d: CellDescription): string {
  const where = `${formatCentsShort(d.lower)}–${formatCentsShort(d.upper)} from ${formatTimeUtc(d.startMs)} to ${formatTimeUtc(d.endMs)}`;
  const at = d.multiplier === null ? '' : ` at ${formatMultiplierShort(d.multiplier)}`;
  const bet = `${formatCentsShort(d.stake)} bet on ${where}${at}`;
  switch (d.state) {
    case 'open':
      return `Bet ${formatCentsShort(d.stake)} on ${where}${at}`;
    case 'closed':
      return `${where}: not open for bets`;
    case 'won':
      return `${bet}: won ${formatCents(d.payout ?? 0)}`;
    case 'void':
      return `${bet}: void, stake refunded`;
    case 'rejected':
      return `${bet}: rejected, ${d.reason ?? 'refused'}`;
    case 'unknown':
      return `${bet}: status unknown, checking`;
    default:
      return `${bet}: ${d.state}`;
  }
}

export function shortAddress(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}
