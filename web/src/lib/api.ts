/**
 * The HTTP API client (API.md). Every failure becomes an ApiError carrying the server's
 * {"error": {"code", "message"}}; a request that never got an answer has status 0 and code "network".
 */
import type {
  Bet,
  BetRequest,
  ColumnMessage,
  GridAnswer,
  LedgerEntry,
  Limits,
  LoginAnswer,
  MeAnswer,
  QuotesMessage,
} from './types';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterS: number | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface LimitsUpdate {
  daily_loss_limit: number | null;
  pause_minutes: number | null;
}

type Query = Record<string, string | number | undefined>;

export class Api {
  token: string | null = null;

  constructor(
    private readonly base = '',
    private readonly fetchImpl: typeof fetch = (...args) => fetch(...args),
  ) {}

  async request<T>(method: string, path: string, body?: unknown, query?: Query): Promise<T> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) params.set(key, String(value));
    }
    const url = this.base + path + (params.toString() === '' ? '' : `?${params.toString()}`);
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (this.token !== null) headers.Authorization = `Bearer ${this.token}`;
    let response: Response;
    try {
      response = await this.fetchImpl(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new ApiError(0, 'network', `no answer from the server (${String(error)})`);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    let json: unknown = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      json = null;
    }
    if (!response.ok) throw errorFrom(response, json);
    return json as T;
  }

  grid = () => this.request<GridAnswer>('GET', '/api/grid');
  quotes = () => this.request<QuotesMessage>('GET', '/api/quotes');
  price = () => this.request<{ price: number; ts_ms: number; source: string; status: string }>('GET', '/api/price');
  column = (c: number) => this.request<ColumnMessage>('GET', `/api/columns/${c}`);
  nonce = () => this.request<{ nonce: string; expires_ms: number }>('GET', '/api/auth/nonce');
  login = (message: string, signature: string) =>
    this.request<LoginAnswer>('POST', '/api/auth/login', { message, signature });
  logout = () => this.request<void>('POST', '/api/auth/logout');
  me = () => this.request<MeAnswer>('GET', '/api/me');
  placeBet = (bet: BetRequest) => this.request<{ bet: Bet; balance: number }>('POST', '/api/bets', bet);
  bet = (betId: string) => this.request<{ bet: Bet }>('GET', `/api/bets/${encodeURIComponent(betId)}`);
  bets = (query: { status?: string; limit?: number; cursor?: string } = {}) =>
    this.request<{ bets: Bet[]; next_cursor: string | null }>('GET', '/api/bets', undefined, query);
  ledger = (query: { limit?: number; cursor?: string } = {}) =>
    this.request<{ entries: LedgerEntry[]; next_cursor: string | null }>('GET', '/api/ledger', undefined, query);
  faucet = () => this.request<{ amount: number; balance: number }>('POST', '/api/demo/faucet');
  putLimits = (update: LimitsUpdate) => this.request<Limits>('PUT', '/api/me/limits', update);
}

function errorFrom(response: Response, json: unknown): ApiError {
  const retryHeader = response.headers.get('Retry-After');
  const retryAfter = retryHeader === null ? null : Number(retryHeader);
  const error = (json as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (error !== undefined && typeof error.code === 'string') {
    const message = typeof error.message === 'string' ? error.message : error.code;
    return new ApiError(response.status, error.code, message, retryAfter);
  }
  return new ApiError(response.status, `http_${response.status}`, `the server answered ${response.status}`, retryAfter);
}
