/** Shapes of the API (API.md), as the server sends them (snake_case). */
import type { BetFields } from './betMessage';

export interface GridAnswer {
  column_seconds: number;
  row_cents: number;
  placeable_min_offset: number;
  max_ahead_columns: number;
  stake_presets_cents: number[];
  chain_id: number;
  currency: 'USD';
  mode: 'demo' | 'production';
  feed: string;
}

export type BetStatus = 'confirmed' | 'won' | 'lost' | 'void';

export interface Bet {
  bet_id: string;
  cell: string;
  column: number;
  row: number;
  lower: number;
  upper: number;
  start_ms: number;
  end_ms: number;
  amount: number;
  multiplier: string;
  quote_id: number;
  status: BetStatus;
  payout: number | null;
  placed_ms: number;
  resolved_ms: number | null;
}

/** `loss_today`: the UTC day's stakes minus payouts and refunds, negative on a winning day. */
export interface Limits {
  daily_loss_limit: number | null;
  loss_today: number;
  paused_until_ms: number | null;
  /** A raise (or removal: null) asked for, in force from `effective_ms`. */
  pending: { daily_loss_limit: number | null; effective_ms: number } | null;
}

export interface MeAnswer {
  address: string;
  balance: number;
  session_expires_ms: number;
  limits: Limits;
}

export interface LoginAnswer {
  token: string;
  address: string;
  expires_ms: number;
  balance: number;
}

export interface LedgerEntry {
  id: number;
  kind: string;
  amount: number;
  balance_after: number;
  ref: string | null;
  created_ms: number;
  meta: string | null;
}

export interface QuotesMessage {
  type: 'quotes';
  quote_id: number;
  ts_ms: number;
  price: number;
  first_column: number;
  first_row: number;
  multipliers: (string | null)[][];
}

export type FeedHealth = 'healthy' | 'degraded' | 'critical';

export interface StatusMessage {
  type: 'status';
  price_feed: FeedHealth;
  betting: 'open' | 'suspended';
  since_ms: number;
}

export interface ColumnMessage {
  column: number;
  start_ms: number;
  end_ms: number;
  status: 'open' | 'resolved' | 'void';
  open: number | null;
  high: number | null;
  low: number | null;
  close: number | null;
  ticks: number;
}

export type ServerMessage =
  | { type: 'hello'; server_ms: number; grid: GridAnswer; status: StatusMessage }
  | { type: 'price'; price: number; ts_ms: number }
  | QuotesMessage
  | StatusMessage
  | ({ type: 'column' } & ColumnMessage)
  | { type: 'bet'; seq: number; bet: Bet }
  | { type: 'balance'; seq: number; balance: number }
  | { type: 'pong' };

/** POST /api/bets: the signed fields and their signature by the session key. */
export interface BetRequest extends BetFields {
  scheme: 'session';
  signature: string;
}
