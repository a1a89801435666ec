/**
 * Where things are on screen: time runs left to right through a fixed "now" line, prices bottom to top
 * around a centre price that follows the market. Pure geometry shared by the canvas and the DOM layer.
 */
import { type GridSpec, columnAt, columnMs, rowAt } from '../lib/grid';

export interface Layout {
  width: number;
  height: number;
  plotW: number; // the grid, left of the price axis
  plotH: number; // the grid, above the time axis
  colW: number;
  rowH: number;
  nowX: number;
  midY: number;
}

export const PRICE_AXIS_W = 66;
export const TIME_AXIS_H = 22;

export function computeLayout(width: number, height: number): Layout {
  const narrow = width < 600;
  const plotW = Math.max(0, width - PRICE_AXIS_W);
  const plotH = Math.max(0, height - TIME_AXIS_H);
  return {
    width,
    height,
    plotW,
    plotH,
    colW: narrow ? 50 : 76,
    rowH: narrow ? 40 : 44,
    nowX: Math.round(plotW * (narrow ? 0.16 : 0.28)),
    midY: Math.round(plotH / 2),
  };
}

export function xAt(layout: Layout, spec: GridSpec, nowMs: number, tMs: number): number {
  return layout.nowX + ((tMs - nowMs) * layout.colW) / columnMs(spec);
}

export function yAt(layout: Layout, spec: GridSpec, centerPrice: number, priceCents: number): number {
  return layout.midY - ((priceCents - centerPrice) * layout.rowH) / spec.rowCents;
}

/** First and last column with any part in the plot. */
export function visibleColumns(layout: Layout, spec: GridSpec, nowMs: number): [number, number] {
  const msPerPx = columnMs(spec) / layout.colW;
  return [columnAt(spec, nowMs - layout.nowX * msPerPx), columnAt(spec, nowMs + (layout.plotW - layout.nowX) * msPerPx)];
}

/** Lowest and highest row with any part in the plot, widened by `margin` rows each way. */
export function visibleRows(layout: Layout, spec: GridSpec, centerPrice: number, margin = 0): [number, number] {
  const halfRows = layout.midY / layout.rowH;
  const low = rowAt(spec, Math.floor(centerPrice - (halfRows + margin) * spec.rowCents));
  const high = rowAt(spec, Math.ceil(centerPrice + (halfRows + margin) * spec.rowCents));
  return [Math.max(0, low), high];
}
