import { describe, expect, it } from 'vitest';
import { computeLayout, visibleColumns, visibleRows, xAt, yAt } from '../src/canvas/viewport';
import type { GridSpec } from '../src/lib/grid';

const spec: GridSpec = { columnSeconds: 5, rowCents: 1000, placeableMinOffset: 2, maxAheadColumns: 30 };

describe('viewport', () => {
  const layout = computeLayout(1000, 522);

  it('puts now on the now line and one column per colW', () => {
    const now = 1_000_000_000;
    expect(xAt(layout, spec, now, now)).toBe(layout.nowX);
    expect(xAt(layout, spec, now, now + 5000) - layout.nowX).toBe(layout.colW);
  });

  it('puts the centre price in the middle, higher prices above', () => {
    expect(yAt(layout, spec, 6_000_000, 6_000_000)).toBe(layout.midY);
    expect(yAt(layout, spec, 6_000_000, 6_001_000)).toBe(layout.midY - layout.rowH);
  });

  it('covers the plot with columns and rows', () => {
    const now = 200 * 5000 + 2500;
    const [first, last] = visibleColumns(layout, spec, now);
    expect(xAt(layout, spec, now, first * 5000)).toBeLessThanOrEqual(0);
    expect(xAt(layout, spec, now, (last + 1) * 5000)).toBeGreaterThanOrEqual(layout.plotW);
    const [low, high] = visibleRows(layout, spec, 6_000_500);
    expect(yAt(layout, spec, 6_000_500, low * 1000)).toBeGreaterThanOrEqual(layout.plotH);
    expect(yAt(layout, spec, 6_000_500, (high + 1) * 1000)).toBeLessThanOrEqual(0);
  });

  it('uses narrower cells on a phone', () => {
    expect(computeLayout(390, 480).colW).toBeLessThan(layout.colW);
  });
});
