/**
 * The grid (DESIGN §2), mirrored from src/taptrade/grid.py: columns are time windows, rows are price
 * bands, a cell is "{column}:{row}". Pure functions; the vectors in tests/vectors/client_vectors.json
 * check them against the Python module.
 */

export interface GridSpec {
  columnSeconds: number;
  rowCents: number;
  placeableMinOffset: number;
  maxAheadColumns: number;
}

export interface Cell {
  column: number;
  row: number;
}

const CELL_RE = /^(0|[1-9][0-9]{0,11}):(0|[1-9][0-9]{0,11})$/;

export function columnMs(spec: GridSpec): number {
  return spec.columnSeconds * 1000;
}

/** The column covering the instant `tsMs`. */
export function columnAt(spec: GridSpec, tsMs: number): number {
  return Math.floor(tsMs / columnMs(spec));
}

export function columnStartMs(spec: GridSpec, column: number): number {
  return column * columnMs(spec);
}

/** Exclusive end: the column covers [start, end). */
export function columnEndMs(spec: GridSpec, column: number): number {
  return (column + 1) * columnMs(spec);
}

/** The row whose band holds `priceCents` (the lower row on a shared boundary). */
export function rowAt(spec: GridSpec, priceCents: number): number {
  return Math.floor(priceCents / spec.rowCents);
}

export function rowLowerCents(spec: GridSpec, row: number): number {
  return row * spec.rowCents;
}

/** Inclusive upper bound: a band covers [lower, upper]. */
export function rowUpperCents(spec: GridSpec, row: number): number {
  return (row + 1) * spec.rowCents;
}

/** Not past, not current, not the next `placeableMinOffset - 1`; and not beyond the horizon. */
export function isPlaceable(spec: GridSpec, column: number, nowMs: number): boolean {
  const current = columnAt(spec, nowMs);
  return current + spec.placeableMinOffset <= column && column <= current + spec.maxAheadColumns;
}

export function formatCell(column: number, row: number): string {
  return `${column}:${row}`;
}

/** "356000123:9712" -> {column, row}; null for anything the server would refuse. */
export function parseCell(text: string): Cell | null {
  const match = CELL_RE.exec(text);
  if (match === null || match[0].length !== text.length) return null;
  return { column: Number(match[1]), row: Number(match[2]) };
}
