/**
 * Draws one frame of the grid on a 2-D canvas: columns (past, closed, placeable), rows, each placeable
 * cell's multiplier, the trader's bets by state, resolved columns' price ranges, the price line with the
 * current price, and the time and price axes. Called from requestAnimationFrame; reads, never writes.
 */
import { type GridSpec, columnStartMs, rowLowerCents, rowUpperCents } from '../lib/grid';
import { formatCents, formatCentsShort, formatMultiplierShort } from '../lib/money';
import { formatTimeUtc } from '../lib/format';
import { type State, bettingOpen, cellState, quotedMultiplier } from '../app/store';
import { type Layout, visibleColumns, visibleRows, xAt, yAt } from './viewport';
import type { PricePoint } from './trail';

export interface Frame {
  layout: Layout;
  spec: GridSpec;
  nowMs: number;
  centerPrice: number;
  state: State;
  trail: readonly PricePoint[];
  /** For the pending pulse: any steadily increasing ms clock. */
  clockMs: number;
}

export const COLORS = {
  background: '#0b1020',
  past: 'rgba(0, 0, 0, 0.35)',
  closed: 'rgba(148, 163, 184, 0.07)',
  line: 'rgba(148, 163, 184, 0.12)',
  text: '#cbd5e1',
  dim: '#64748b',
  price: '#fbbf24',
  now: 'rgba(255, 255, 255, 0.5)',
  pending: '#f59e0b',
  confirmed: '#3b82f6',
  won: '#22c55e',
  lost: '#ef4444',
  void: '#94a3b8',
  rejected: '#f43f5e',
  unknown: '#eab308',
  range: 'rgba(251, 191, 36, 0.12)',
};

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

export function drawFrame(ctx: CanvasRenderingContext2D, f: Frame): void {
  const { layout, spec, nowMs, centerPrice, state } = f;
  const { plotW, plotH, width, height } = layout;
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, 0, width, height);

  const [firstCol, lastCol] = visibleColumns(layout, spec, nowMs);
  const [lowRow, highRow] = visibleRows(layout, spec, centerPrice, 1);
  const x = (t: number) => xAt(layout, spec, nowMs, t);
  const y = (p: number) => yAt(layout, spec, centerPrice, p);
  const open = bettingOpen(state);

  ctx.save();
  ctx.beginPath();
  ctx.rect(0, 0, plotW, plotH);
  ctx.clip();

  // Columns: shade what cannot be bet on; outline resolved ranges.
  for (let c = firstCol; c <= lastCol; c += 1) {
    const x0 = x(columnStartMs(spec, c));
    const x1 = x(columnStartMs(spec, c + 1));
    const current = Math.floor(nowMs / (spec.columnSeconds * 1000));
    if (c < current + spec.placeableMinOffset || c > current + spec.maxAheadColumns || !open) {
      ctx.fillStyle = c <= current ? COLORS.past : COLORS.closed;
      ctx.fillRect(x0, 0, x1 - x0, plotH);
    }
    const result = state.columns[c];
    if (result?.status === 'resolved' && result.low !== null && result.high !== null) {
      ctx.fillStyle = COLORS.range;
      ctx.fillRect(x0, y(result.high), x1 - x0, Math.max(2, y(result.low) - y(result.high)));
    } else if (result?.status === 'void') {
      hatch(ctx, x0, 0, x1 - x0, plotH);
    }
  }

  // Grid lines.
  ctx.strokeStyle = COLORS.line;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let c = firstCol; c <= lastCol + 1; c += 1) {
    const xx = Math.round(x(columnStartMs(spec, c))) + 0.5;
    ctx.moveTo(xx, 0);
    ctx.lineTo(xx, plotH);
  }
  for (let r = lowRow; r <= highRow + 1; r += 1) {
    const yy = Math.round(y(rowLowerCents(spec, r))) + 0.5;
    ctx.moveTo(0, yy);
    ctx.lineTo(plotW, yy);
  }
  ctx.stroke();

  // Cells: multipliers on open cells, bets in their state colours.
  const pulse = 0.45 + 0.35 * Math.sin((f.clockMs / 1000) * Math.PI * 2 * 1.5);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  for (let c = firstCol; c <= lastCol; c += 1) {
    const x0 = x(columnStartMs(spec, c));
    const w = layout.colW;
    for (let r = lowRow; r <= highRow; r += 1) {
      const y0 = y(rowUpperCents(spec, r));
      const h = layout.rowH;
      const cs = cellState(state, c, r, nowMs);
      const bet = state.bets[`${c}:${r}`];
      if (bet !== undefined) {
        drawBet(ctx, x0, y0, w, h, cs, bet.amount, bet.multiplier, bet.payout, pulse);
      } else if (cs === 'open') {
        const m = quotedMultiplier(state.quotes, c, r);
        if (m !== null) {
          ctx.fillStyle = heat(Number(m));
          ctx.fillRect(x0 + 2, y0 + 2, w - 4, h - 4);
          ctx.fillStyle = COLORS.text;
          ctx.font = `600 ${w < 60 ? 11 : 13}px ${FONT}`;
          ctx.fillText(formatMultiplierShort(m), x0 + w / 2, y0 + h / 2);
        }
      }
    }
  }

  // The price line up to now, then the now line and the current price.
  const trail = f.trail;
  const last = trail[trail.length - 1];
  if (last !== undefined) {
    ctx.strokeStyle = COLORS.price;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.beginPath();
    let started = false;
    for (const point of trail) {
      const px = x(point.t);
      if (px < -20) continue;
      if (started) ctx.lineTo(px, y(point.p));
      else ctx.moveTo(px, y(point.p));
      started = true;
    }
    ctx.lineTo(layout.nowX, y(last.p));
    ctx.stroke();
  }
  ctx.setLineDash([4, 4]);
  ctx.strokeStyle = COLORS.now;
  ctx.beginPath();
  ctx.moveTo(layout.nowX + 0.5, 0);
  ctx.lineTo(layout.nowX + 0.5, plotH);
  ctx.stroke();
  ctx.setLineDash([]);
  if (last !== undefined) {
    ctx.fillStyle = COLORS.price;
    ctx.beginPath();
    ctx.arc(layout.nowX, y(last.p), 5, 0, Math.PI * 2);
    ctx.fill();
  }
  if (!open && state.status !== null) {
    ctx.fillStyle = 'rgba(11, 16, 32, 0.55)';
    ctx.fillRect(layout.nowX, 0, plotW - layout.nowX, plotH);
  }
  ctx.restore();

  // Axes: price per row on the right, time per column at the bottom, the current price pill.
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(plotW, 0, width - plotW, height);
  ctx.fillRect(0, plotH, width, height - plotH);
  ctx.font = `11px ${FONT}`;
  ctx.fillStyle = COLORS.dim;
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  for (let r = lowRow; r <= highRow + 1; r += 1) {
    const yy = y(rowLowerCents(spec, r));
    if (yy > 6 && yy < plotH - 6) ctx.fillText(formatCentsShort(rowLowerCents(spec, r)), plotW + 6, yy);
  }
  ctx.textAlign = 'center';
  const labelEvery = layout.colW < 60 ? 2 : 1;
  for (let c = firstCol; c <= lastCol; c += 1) {
    if (c % labelEvery !== 0) continue;
    const xx = x(columnStartMs(spec, c));
    if (xx > 20 && xx < plotW - 20) ctx.fillText(formatTimeUtc(columnStartMs(spec, c)), xx, plotH + TIME_LABEL_Y);
  }
  if (last !== undefined) {
    const yy = Math.min(Math.max(y(last.p), 10), plotH - 10);
    ctx.fillStyle = COLORS.price;
    roundRect(ctx, plotW + 2, yy - 10, width - plotW - 4, 20, 4);
    ctx.fill();
    ctx.fillStyle = '#111827';
    ctx.font = `600 11px ${FONT}`;
    ctx.fillText(formatCentsShort(Math.round(last.p / 100) * 100), plotW + (width - plotW) / 2, yy);
  }
}

const TIME_LABEL_Y = 11;

/** Before the first grid and price arrive. */
export function drawWaiting(ctx: CanvasRenderingContext2D, layout: Layout): void {
  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, 0, layout.width, layout.height);
  ctx.fillStyle = COLORS.dim;
  ctx.font = `14px ${FONT}`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  ctx.fillText('Waiting for prices…', layout.width / 2, layout.height / 2);
}

function drawBet(
  ctx: CanvasRenderingContext2D,
  x0: number,
  y0: number,
  w: number,
  h: number,
  state: string,
  amount: number,
  multiplier: string,
  payout: number | null,
  pulse: number,
): void {
  const color = (COLORS as Record<string, string>)[state] ?? COLORS.confirmed;
  ctx.save();
  ctx.globalAlpha = state === 'pending' ? pulse : state === 'lost' || state === 'void' ? 0.55 : 0.9;
  ctx.fillStyle = color;
  if (state === 'unknown' || state === 'rejected') {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(x0 + 3, y0 + 3, w - 6, h - 6);
  } else {
    ctx.fillRect(x0 + 2, y0 + 2, w - 4, h - 4);
  }
  ctx.restore();
  const top =
    state === 'won'
      ? formatCents(payout ?? 0) // what came back, stake included
      : state === 'void'
        ? 'refund'
        : state === 'unknown'
          ? '?'
          : state === 'rejected'
            ? '✕'
            : formatCentsShort(amount);
  ctx.fillStyle = state === 'unknown' || state === 'rejected' ? color : '#ffffff';
  ctx.font = `700 ${w < 60 ? 10 : 12}px ${FONT}`;
  ctx.fillText(top, x0 + w / 2, y0 + h / 2 - 7);
  ctx.font = `${w < 60 ? 10 : 11}px ${FONT}`;
  ctx.fillText(formatMultiplierShort(multiplier), x0 + w / 2, y0 + h / 2 + 8);
}

/** Likely cells (low multipliers) cool, long shots warm. */
function heat(multiplier: number): string {
  const t = Math.min(1, Math.log(Math.max(multiplier, 1)) / Math.log(50));
  const hue = 190 - t * 150;
  return `hsla(${hue}, 70%, 45%, ${0.1 + 0.12 * (1 - t)})`;
}

function hatch(ctx: CanvasRenderingContext2D, x0: number, y0: number, w: number, h: number): void {
  ctx.save();
  ctx.beginPath();
  ctx.rect(x0, y0, w, h);
  ctx.clip();
  ctx.strokeStyle = 'rgba(148, 163, 184, 0.15)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let d = -h; d < w; d += 10) {
    ctx.moveTo(x0 + d, y0 + h);
    ctx.lineTo(x0 + d + h, y0);
  }
  ctx.stroke();
  ctx.restore();
}

function roundRect(ctx: CanvasRenderingContext2D, x0: number, y0: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x0 + r, y0);
  ctx.arcTo(x0 + w, y0, x0 + w, y0 + h, r);
  ctx.arcTo(x0 + w, y0 + h, x0, y0 + h, r);
  ctx.arcTo(x0, y0 + h, x0, y0, r);
  ctx.arcTo(x0, y0, x0 + w, y0, r);
  ctx.closePath();
}
