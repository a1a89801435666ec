/**
 * The betting grid: a canvas drawn every animation frame, and over it a transparent layer of buttons,
 * one per visible cell (role="gridcell", data-cell, data-state, aria-label), for touch, mouse,
 * keyboard (arrow keys move, Enter bets), screen readers and tests. The layer is rendered by React
 * only when the column, the quotes or the bets change; between renders it is moved by a transform.
 */
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import type { KeyboardEvent } from 'react';
import { drawFrame, drawWaiting } from '../canvas/renderer';
import { type Layout, computeLayout, visibleColumns, visibleRows, xAt, yAt } from '../canvas/viewport';
import { useAppState, useController } from '../app/context';
import { type State, cellState, gridSpec, quotedMultiplier } from '../app/store';
import { type GridSpec, columnAt, columnEndMs, columnMs, columnStartMs, formatCell, rowLowerCents, rowUpperCents } from '../lib/grid';
import { cellLabel } from '../lib/format';

interface View {
  baseColumn: number;
  baseCenter: number;
}

interface CellProps {
  id: string;
  state: string;
  label: string;
  left: number;
  top: number;
  width: number;
  height: number;
  payout: number | null;
  focusable: boolean;
}

const RECENTER_ROWS = 2;

export function GridView() {
  const controller = useController();
  const state = useAppState();
  const wrapRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const layerRef = useRef<HTMLDivElement>(null);
  const [size, setSize] = useState({ width: 0, height: 0 });
  const [view, setView] = useState<View | null>(null);
  const [focusCell, setFocusCell] = useState<string | null>(null);
  const viewRef = useRef<View | null>(null);
  const centerRef = useRef<number | null>(null);
  viewRef.current = view;

  useEffect(() => {
    const wrap = wrapRef.current;
    if (wrap === null) return;
    const observer = new ResizeObserver(() => setSize({ width: wrap.clientWidth, height: wrap.clientHeight }));
    observer.observe(wrap);
    return () => observer.disconnect();
  }, []);

  const layout = useMemo(() => computeLayout(size.width, size.height), [size]);

  /** Move the button layer to where the canvas draws the cells now. */
  const placeLayer = useCallback(
    (spec: GridSpec, nowMs: number, center: number, v: View) => {
      const layer = layerRef.current;
      if (layer === null) return;
      const dx = xAt(layout, spec, nowMs, columnStartMs(spec, v.baseColumn)) - layout.nowX;
      const dy = yAt(layout, spec, center, v.baseCenter) - layout.midY;
      layer.style.transform = `translate(${Math.round(dx)}px, ${Math.round(dy)}px)`;
    },
    [layout],
  );

  // The animation loop: ease the centre price, draw, keep the layer in place, re-base when needed.
  useEffect(() => {
    const canvas = canvasRef.current;
    const ctx = canvas?.getContext('2d');
    if (canvas === null || canvas === undefined || ctx === null || ctx === undefined || layout.width === 0) return;
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.round(layout.width * dpr);
    canvas.height = Math.round(layout.height * dpr);
    let frame = 0;
    let lastTs = performance.now();
    const draw = (ts: number) => {
      frame = requestAnimationFrame(draw);
      const s = controller.store.getState();
      const target = controller.trail.last?.p ?? s.quotes?.price;
      if (s.grid === null || target === undefined) {
        ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
        drawWaiting(ctx, layout);
        return;
      }
      const spec = gridSpec(s.grid);
      const nowMs = controller.serverNow();
      const dt = Math.min(ts - lastTs, 1000);
      lastTs = ts;
      const prev = centerRef.current;
      const center = prev === null || Math.abs(target - prev) > 20 * spec.rowCents ? target : prev + (target - prev) * Math.min(1, dt / 500);
      centerRef.current = center;
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      drawFrame(ctx, { layout, spec, nowMs, centerPrice: center, state: s, trail: controller.trail.points, clockMs: ts });
      const v = viewRef.current;
      const column = columnAt(spec, nowMs);
      if (v === null || v.baseColumn !== column || Math.abs(center - v.baseCenter) > RECENTER_ROWS * spec.rowCents) {
        const next = { baseColumn: column, baseCenter: Math.round(center) };
        viewRef.current = next;
        setView(next);
      } else {
        placeLayer(spec, nowMs, center, v);
      }
    };
    frame = requestAnimationFrame(draw);
    return () => cancelAnimationFrame(frame);
  }, [controller, layout, placeLayer]);

  useLayoutEffect(() => {
    const s = controller.store.getState();
    if (view === null || s.grid === null || centerRef.current === null) return;
    placeLayer(gridSpec(s.grid), controller.serverNow(), centerRef.current, view);
  }, [controller, view, placeLayer]);

  const rows = useMemo(
    () => (view === null || state.grid === null ? [] : layoutCells(state, layout, view, controller.serverNow(), focusCell)),
    [state, layout, view, controller, focusCell],
  );

  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const moves: Record<string, [number, number]> = {
      ArrowLeft: [-1, 0],
      ArrowRight: [1, 0],
      ArrowUp: [0, 1],
      ArrowDown: [0, -1],
    };
    const move = moves[event.key];
    const from = (event.target as HTMLElement).dataset.cell;
    if (move === undefined || from === undefined) return;
    event.preventDefault();
    const [c, r] = from.split(':').map(Number) as [number, number];
    const id = formatCell(c + move[0], r + move[1]);
    const button = layerRef.current?.querySelector<HTMLButtonElement>(`[data-cell="${id}"]`);
    if (button) {
      button.focus({ preventScroll: true });
      setFocusCell(id);
    }
  };

  const onTap = useCallback((id: string) => void controller.tap(id), [controller]);
  const suspended = state.status?.betting === 'suspended';
  return (
    <div className="grid-wrap" ref={wrapRef} aria-busy={state.grid === null}>
      <canvas ref={canvasRef} className="grid-canvas" style={{ width: layout.width, height: layout.height }} aria-hidden="true" />
      <div
        className="grid-layer"
        role="grid"
        aria-label="Betting grid: columns are time windows, rows are price bands"
        aria-disabled={suspended || undefined}
        onKeyDown={onKeyDown}
        style={{ width: layout.plotW, height: layout.plotH }}
      >
        <div ref={layerRef} className="grid-layer-inner">
          {rows.map((row) => (
            <div role="row" key={row.row} className="grid-row">
              {row.cells.map((cell) => (
                <GridCell key={cell.id} {...cell} onTap={onTap} onFocusCell={setFocusCell} />
              ))}
            </div>
          ))}
        </div>
      </div>
      {suspended && (
        <div className="grid-suspended" role="status">
          Betting suspended: the price feed is down. Bets reopen when prices are fresh again.
        </div>
      )}
    </div>
  );
}

const GridCell = memo(function GridCell(
  props: CellProps & { onTap: (cell: string) => void; onFocusCell: (cell: string) => void },
) {
  const { id, state, label, left, top, width, height, payout, focusable, onTap, onFocusCell } = props;
  return (
    <button
      type="button"
      role="gridcell"
      className="grid-cell"
      data-cell={id}
      data-state={state}
      data-payout={payout ?? undefined}
      aria-label={label}
      aria-disabled={state !== 'open' || undefined}
      tabIndex={focusable ? 0 : -1}
      style={{ left, top, width, height }}
      onClick={() => onTap(id)}
      onFocus={() => onFocusCell(id)}
    />
  );
});

/** The buttons for every cell that can show while this view lasts (one column and two rows of slack). */
function layoutCells(state: State, layout: Layout, view: View, nowMs: number, focusCell: string | null) {
  const grid = state.grid;
  if (grid === null) return [];
  const spec = gridSpec(grid);
  const baseNow = columnStartMs(spec, view.baseColumn);
  const [firstCol] = visibleColumns(layout, spec, baseNow);
  const [, lastCol] = visibleColumns(layout, spec, baseNow + columnMs(spec));
  const [lowRow, highRow] = visibleRows(layout, spec, view.baseCenter, RECENTER_ROWS + 1);
  const stake = state.stake ?? 0;
  const out: { row: number; cells: CellProps[] }[] = [];
  const priceRow = Math.floor(view.baseCenter / spec.rowCents);
  let defaultFocus: { id: string; column: number; distance: number } | null = null;
  let focusVisible = false;
  for (let r = highRow; r >= lowRow; r -= 1) {
    const cells: CellProps[] = [];
    for (let c = firstCol; c <= lastCol; c += 1) {
      const id = formatCell(c, r);
      const cs = cellState(state, c, r, nowMs);
      const bet = state.bets[id];
      const multiplier = bet?.multiplier ?? quotedMultiplier(state.quotes, c, r);
      const distance = Math.abs(r - priceRow);
      if (cs === 'open' && (defaultFocus === null || c < defaultFocus.column || (c === defaultFocus.column && distance < defaultFocus.distance))) {
        defaultFocus = { id, column: c, distance };
      }
      if (id === focusCell) focusVisible = true;
      cells.push({
        id,
        state: cs,
        label: cellLabel({
          state: cs,
          stake: bet?.amount ?? stake,
          lower: rowLowerCents(spec, r),
          upper: rowUpperCents(spec, r),
          startMs: columnStartMs(spec, c),
          endMs: columnEndMs(spec, c),
          multiplier,
          payout: bet?.payout ?? null,
          reason: bet?.reason ?? null,
        }),
        left: Math.round(xAt(layout, spec, baseNow, columnStartMs(spec, c))),
        top: Math.round(yAt(layout, spec, view.baseCenter, rowUpperCents(spec, r))),
        width: Math.round(layout.colW),
        height: Math.round(layout.rowH),
        payout: bet?.payout ?? null,
        focusable: false,
      });
    }
    out.push({ row: r, cells });
  }
  const tabStop = focusVisible ? focusCell : (defaultFocus?.id ?? null);
  for (const row of out) for (const cell of row.cells) cell.focusable = cell.id === tabStop;
  return out;
}
