import { describe, expect, it } from 'vitest';
import { cellLabel, formatTimeUtc } from '../src/lib/format';

const base = {
  stake: 1000,
  lower: 9_712_000,
  upper: 9_713_000,
  startMs: Date.UTC(2026, 0, 1, 12, 0, 5),
  endMs: Date.UTC(2026, 0, 1, 12, 0, 10),
  multiplier: '2.5000',
  payout: null,
  reason: null,
};

describe('cell labels', () => {
  it('reads an open cell as the bet a tap makes', () => {
    expect(cellLabel({ ...base, state: 'open' })).toBe('Bet $10 on $97,120–$97,130 from 12:00:05 to 12:00:10 at 2.50x');
  });

  it('names the state of a bet', () => {
    expect(cellLabel({ ...base, state: 'won', payout: 2500 })).toBe(
      '$10 bet on $97,120–$97,130 from 12:00:05 to 12:00:10 at 2.50x: won $25.00',
    );
    expect(cellLabel({ ...base, state: 'rejected', reason: 'Multiplier moved' })).toMatch(/rejected, Multiplier moved$/);
    expect(cellLabel({ ...base, state: 'closed', multiplier: null })).toBe(
      '$97,120–$97,130 from 12:00:05 to 12:00:10: not open for bets',
    );
  });

  it('shows times in UTC', () => {
    expect(formatTimeUtc(Date.UTC(2026, 10, 21, 23, 59, 59, 999))).toBe('23:59:59');
  });
});
