import { describe, expect, it } from 'vitest';
import {
  formatCentsShort,
  formatMultiplierShort,
  formatSignedCents,
  minMultiplier,
  parseDollars,
  payoutCents,
} from '../src/lib/money';

describe('min_multiplier (shown x 0.98, floored at 1e-4, integer arithmetic)', () => {
  it.each([
    ['2.5000', '2.4500'],
    ['2.4999', '2.4499'], // 24999 x 98 / 100 = 24499.02 -> 24499
    ['1.1000', '1.0780'],
    ['1.0001', '0.9800'], // 9800.98 -> 9800
    ['3', '2.9400'],
    ['999999.9999', '979999.9999'], // 9_999_999_999 x 98 = 979_999_999_902 (safe integer) -> /100 floor
    ['0.0001', '0.0000'],
  ])('%s -> %s', (shown, min) => {
    expect(minMultiplier(shown)).toBe(min);
  });

  it('refuses what is not a multiplier', () => {
    expect(() => minMultiplier('2.50001')).toThrow();
    expect(() => minMultiplier('abc')).toThrow();
  });
});

describe('display formats', () => {
  it('shortens multipliers to two decimals without rounding up', () => {
    expect(formatMultiplierShort('2.5000')).toBe('2.50x');
    expect(formatMultiplierShort('69.3099')).toBe('69.30x');
    expect(formatMultiplierShort('3')).toBe('3.00x');
  });

  it('writes whole dollars short and keeps cents when there are some', () => {
    expect(formatCentsShort(9_712_000)).toBe('$97,120');
    expect(formatCentsShort(1000)).toBe('$10');
    expect(formatCentsShort(250)).toBe('$2.50');
    expect(formatSignedCents(500)).toBe('+$5.00');
    expect(formatSignedCents(-100)).toBe('-$1.00');
  });

  it('parses dollar inputs to cents', () => {
    expect(parseDollars('50')).toBe(5000);
    expect(parseDollars('$25.5')).toBe(2550);
    expect(parseDollars('1,000.05')).toBe(100005);
    expect(parseDollars('-3')).toBeNull();
    expect(parseDollars('1.234')).toBeNull();
  });

  it('pays out with integer arithmetic beyond 2^53', () => {
    expect(payoutCents(1_000_000_000_000, 1_000_000)).toBe(100_000_000_000_000);
    expect(payoutCents(333, 11_111)).toBe(369);
  });
});
