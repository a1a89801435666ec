/**
 * The app's state and its reducer (pure): market (grid, status, quotes), session and balance, the
 * trader's bets by cell with their tap states, resolved columns, and short messages.
 *
 * Bet states (DESIGN §4): pending (tapped, waiting) -> confirmed (201/200 or the WS `bet` event) ->
 * won | lost | void; rejected (shown briefly, then removed); unknown (the socket dropped or the request
 * got no answer while pending; reconciled with GET /api/bets/{id}). A state never moves backwards.
 */
import { type GridSpec, isPlaceable } from '../lib/grid';
import type { Bet, ColumnMessage, FeedHealth, GridAnswer, Limits, MeAnswer, QuotesMessage } from '../lib/types';

export type BetState = 'pending' | 'confirmed' | 'won' | 'lost' | 'void' | 'rejected' | 'unknown';
export type CellState = 'open' | 'closed' | BetState;

export interface LocalBet {
  betId: string;
  cell: string;
  column: number;
  row: number;
  amount: number;
  multiplier: string;
  state: BetState;
  payout: number | null;
  reason: string | null;
  /** The POST has finished (answered or failed): a 404 from GET /api/bets/{id} then means "not placed". */
  httpDone: boolean;
}

export interface Session {
  address: string;
  token: string;
  expiresMs: number;
  wallet: string;
}

export interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'error' | 'win';
}

export interface FeedStatus {
  priceFeed: FeedHealth;
  betting: 'open' | 'suspended';
}

export interface State {
  grid: GridAnswer | null;
  serverOffsetMs: number;
  status: FeedStatus | null;
  quotes: QuotesMessage | null;
  connected: boolean;
  session: Session | null;
  balance: number | null;
  limits: Limits | null;
  stake: number | null;
  bets: Record<string, LocalBet>;
  columns: Record<number, ColumnMessage>;
  lastSeq: number | null;
  resyncNeeded: boolean;
  /** Bumped whenever a bet or the balance changes, so the history and ledger views refetch. */
  activity: number;
  toasts: Toast[];
  nextToastId: number;
}

export const initialState: State = {
  grid: null,
  serverOffsetMs: 0,
  status: null,
  quotes: null,
  connected: false,
  session: null,
  balance: null,
  limits: null,
  stake: null,
  bets: {},
  columns: {},
  lastSeq: null,
  resyncNeeded: false,
  activity: 0,
  toasts: [],
  nextToastId: 1,
};

export type Action =
  | { type: 'grid'; grid: GridAnswer }
  | { type: 'hello'; grid: GridAnswer; serverMs: number; localMs: number; status: FeedStatus }
  | { type: 'status'; status: FeedStatus }
  | { type: 'quotes'; quotes: QuotesMessage }
  | { type: 'connection'; connected: boolean }
  | { type: 'signedIn'; session: Session; balance: number | null }
  | { type: 'signedOut' }
  | { type: 'me'; me: MeAnswer }
  | { type: 'limits'; limits: Limits }
  | { type: 'balance'; balance: number }
  | { type: 'stake'; cents: number }
  | { type: 'betPlaced'; bet: Pick<LocalBet, 'betId' | 'cell' | 'column' | 'row' | 'amount' | 'multiplier'> }
  | { type: 'betAnswered'; bet: Bet; balance: number }
  | { type: 'betRejected'; betId: string; reason: string }
  | { type: 'betLost'; betId: string }
  | { type: 'betMissing'; betId: string }
  | { type: 'betCleared'; betId: string }
  | { type: 'wsBet'; seq: number; bet: Bet }
  | { type: 'wsBalance'; seq: number; balance: number }
  | { type: 'betsSynced'; bets: Bet[] }
  | { type: 'column'; column: ColumnMessage }
  | { type: 'resynced' }
  | { type: 'prune'; beforeColumn: number }
  | { type: 'toast'; text: string; kind: Toast['kind'] }
  | { type: 'toastDone'; id: number };

const RANK: Record<BetState, number> = {
  pending: 0,
  unknown: 0,
  rejected: 0,
  confirmed: 1,
  won: 2,
  lost: 2,
  void: 2,
};

export const NOT_PLACED = 'Bet was not placed';

export function reducer(state: State, action: Action): State {
  switch (action.type) {
    case 'grid':
      return { ...state, grid: action.grid, stake: pickStake(state.stake, action.grid) };
    case 'hello':
      return {
        ...state,
        grid: action.grid,
        stake: pickStake(state.stake, action.grid),
        serverOffsetMs: action.serverMs - action.localMs,
        status: action.status,
      };
    case 'status':
      return { ...state, status: action.status };
    case 'quotes':
      return { ...state, quotes: action.quotes };
    case 'connection': {
      if (action.connected) return { ...state, connected: true };
      // Anything still waiting may or may not have reached the ledger: unknown until reconciled.
      const bets = mapBets(state.bets, (b) => (b.state === 'pending' ? { ...b, state: 'unknown' } : b));
      return { ...state, connected: false, bets, lastSeq: null };
    }
    case 'signedIn':
      return { ...state, session: action.session, balance: action.balance, bets: {}, lastSeq: null };
    case 'signedOut':
      return { ...state, session: null, balance: null, limits: null, bets: {}, lastSeq: null };
    case 'me':
      return { ...state, balance: action.me.balance, limits: action.me.limits };
    case 'limits':
      return { ...state, limits: action.limits };
    case 'balance':
      return { ...state, balance: action.balance, activity: state.activity + 1 };
    case 'stake':
      return { ...state, stake: action.cents };
    case 'betPlaced': {
      const bet: LocalBet = { ...action.bet, state: 'pending', payout: null, reason: null, httpDone: false };
      return { ...state, bets: { ...state.bets, [bet.cell]: bet } };
    }
    case 'betAnswered': {
      const next = mergeServerBet(state, action.bet, true);
      return { ...next, balance: action.balance };
    }
    case 'betRejected':
      return updateBet(state, action.betId, (b) => ({ ...b, state: 'rejected', reason: action.reason, httpDone: true }));
    case 'betLost':
      return updateBet(state, action.betId, (b) =>
        b.state === 'pending' || b.state === 'unknown' ? { ...b, state: 'unknown', httpDone: true } : { ...b, httpDone: true },
      );
    case 'betMissing':
      return updateBet(state, action.betId, (b) =>
        b.state === 'unknown' && b.httpDone ? { ...b, state: 'rejected', reason: NOT_PLACED } : b,
      );
    case 'betCleared': {
      const found = findBet(state, action.betId);
      if (found === undefined || found.state !== 'rejected') return state;
      const bets = { ...state.bets };
      delete bets[found.cell];
      return { ...state, bets };
    }
    case 'wsBet': {
      const next = mergeServerBet(state, action.bet, false);
      return withSeq(next, state.lastSeq, action.seq);
    }
    case 'wsBalance':
      return withSeq({ ...state, balance: action.balance, activity: state.activity + 1 }, state.lastSeq, action.seq);
    case 'betsSynced':
      return action.bets.reduce((s, bet) => mergeServerBet(s, bet, false), state);
    case 'column':
      return { ...state, columns: { ...state.columns, [action.column.column]: action.column } };
    case 'resynced':
      return { ...state, resyncNeeded: false };
    case 'prune': {
      const bets: Record<string, LocalBet> = {};
      for (const [cell, bet] of Object.entries(state.bets)) {
        if (bet.column >= action.beforeColumn || bet.state === 'pending' || bet.state === 'unknown') bets[cell] = bet;
      }
      const columns: Record<number, ColumnMessage> = {};
      for (const c of Object.values(state.columns)) if (c.column >= action.beforeColumn) columns[c.column] = c;
      return { ...state, bets, columns };
    }
    case 'toast': {
      const toast: Toast = { id: state.nextToastId, text: action.text, kind: action.kind };
      return { ...state, toasts: [...state.toasts.slice(-3), toast], nextToastId: state.nextToastId + 1 };
    }
    case 'toastDone':
      return { ...state, toasts: state.toasts.filter((t) => t.id !== action.id) };
  }
}

/** The server's word on a bet, merged without moving a state backwards (a stale list must not undo a win). */
function mergeServerBet(state: State, bet: Bet, fromHttp: boolean): State {
  const existing = state.bets[bet.cell];
  if (existing !== undefined && existing.betId === bet.bet_id && RANK[existing.state] > RANK[bet.status]) {
    return fromHttp ? updateBet(state, bet.bet_id, (b) => ({ ...b, httpDone: true })) : state;
  }
  const merged: LocalBet = {
    betId: bet.bet_id,
    cell: bet.cell,
    column: bet.column,
    row: bet.row,
    amount: bet.amount,
    multiplier: bet.multiplier,
    state: bet.status,
    payout: bet.payout,
    reason: null,
    httpDone: fromHttp || existing?.betId !== bet.bet_id || existing.httpDone,
  };
  const changed = existing?.state !== merged.state;
  return { ...state, bets: { ...state.bets, [bet.cell]: merged }, activity: state.activity + (changed ? 1 : 0) };
}

function withSeq(state: State, lastSeq: number | null, seq: number): State {
  const gap = lastSeq !== null && seq > lastSeq + 1;
  return { ...state, lastSeq: lastSeq === null ? seq : Math.max(lastSeq, seq), resyncNeeded: state.resyncNeeded || gap };
}

function findBet(state: State, betId: string): LocalBet | undefined {
  return Object.values(state.bets).find((b) => b.betId === betId);
}

function updateBet(state: State, betId: string, update: (bet: LocalBet) => LocalBet): State {
  const bet = findBet(state, betId);
  if (bet === undefined) return state;
  return { ...state, bets: { ...state.bets, [bet.cell]: update(bet) } };
}

function mapBets(bets: Record<string, LocalBet>, update: (bet: LocalBet) => LocalBet): Record<string, LocalBet> {
  const out: Record<string, LocalBet> = {};
  for (const [cell, bet] of Object.entries(bets)) out[cell] = update(bet);
  return out;
}

function pickStake(current: number | null, grid: GridAnswer): number | null {
  if (current !== null && grid.stake_presets_cents.includes(current)) return current;
  const presets = grid.stake_presets_cents;
  return presets.includes(1000) ? 1000 : (presets[0] ?? null);
}

// --- selectors ------------------------------------------------------------------------------------

export const QUOTE_MAX_AGE_MS = 3000;

export function gridSpec(grid: GridAnswer): GridSpec {
  return {
    columnSeconds: grid.column_seconds,
    rowCents: grid.row_cents,
    placeableMinOffset: grid.placeable_min_offset,
    maxAheadColumns: grid.max_ahead_columns,
  };
}

/** The multiplier quoted for a cell ("2.5000"), or null when none is offered. */
export function quotedMultiplier(quotes: QuotesMessage | null, column: number, row: number): string | null {
  if (quotes === null) return null;
  return quotes.multipliers[column - quotes.first_column]?.[row - quotes.first_row] ?? null;
}

export function bettingOpen(state: State): boolean {
  return state.status?.betting === 'open';
}

/** What a cell shows: the trader's bet on it if any, else open (tappable now) or closed. */
export function cellState(state: State, column: number, row: number, nowMs: number): CellState {
  const bet = state.bets[`${column}:${row}`];
  if (bet !== undefined) return bet.state;
  if (state.grid === null || !bettingOpen(state)) return 'closed';
  if (!isPlaceable(gridSpec(state.grid), column, nowMs)) return 'closed';
  if (state.quotes === null || nowMs - state.quotes.ts_ms > QUOTE_MAX_AGE_MS) return 'closed';
  return quotedMultiplier(state.quotes, column, row) === null ? 'closed' : 'open';
}

/** Room left under the daily loss limit (cents), or null without a limit. */
export function lossRoom(limits: Limits | null): number | null {
  if (limits === null || limits.daily_loss_limit === null) return null;
  return Math.max(0, limits.daily_loss_limit - limits.loss_today);
}

// --- a tiny external store for React (useSyncExternalStore) ----------------------------------------

export interface Store {
  getState(): State;
  dispatch(action: Action): void;
  subscribe(listener: () => void): () => void;
}

export function createStore(init: State = initialState): Store {
  let state = init;
  const listeners = new Set<() => void>();
  return {
    getState: () => state,
    dispatch(action) {
      const next = reducer(state, action);
      if (next === state) return;
      state = next;
      for (const listener of listeners) listener();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
