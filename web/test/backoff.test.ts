import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../src/lib/backoff';

const opts = { baseMs: 500, capMs: 30_000 };

describe('backoff with full jitter', () => {
  it('grows the ceiling exponentially up to the cap', () => {
    const ceiling = (attempt: number) => backoffDelay(attempt, opts, () => 0.999999) + 1;
    expect([0, 1, 2, 3, 4, 5, 6].map(ceiling)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000]);
    expect(ceiling(60)).toBe(30000);
    expect(ceiling(Number.MAX_SAFE_INTEGER)).toBe(30000);
  });

  it('draws anywhere from zero to the ceiling', () => {
    expect(backoffDelay(3, opts, () => 0)).toBe(0);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(2000);
    const draws = Array.from({ length: 500 }, () => backoffDelay(4, opts));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(8000);
    expect(new Set(draws).size).toBeGreaterThan(100); // jittered, not a fixed schedule
  });

  it('treats a negative attempt as the first', () => {
    expect(backoffDelay(-3, opts, () => 0.5)).toBe(250);
  });
});
