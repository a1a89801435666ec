/**
 * The app's side effects in one place: HTTP and WebSocket, sign-in, placing bets, resyncs and
 * reconciliation. It dispatches to the store; components read the store and call these methods.
 */
import { Api, ApiError, type LimitsUpdate } from '../lib/api';
import { betMessage, type BetFields } from '../lib/betMessage';
import { columnAt, parseCell } from '../lib/grid';
import { formatCents, minMultiplier } from '../lib/money';
import { createSessionKey, signText } from '../lib/sessionKey';
import { clearSession, loadSession, saveSession } from '../lib/sessionStore';
import { LOGIN_VALID_MS, loginMessage } from '../lib/siwe';
import type { Signer } from '../lib/wallet';
import { TradeSocket } from '../lib/ws';
import type { ServerMessage } from '../lib/types';
import { PriceTrail } from '../canvas/trail';
import { Feedback } from './feedback';
import { limitsError, outcomeUnknown, rejectionReason } from './messages';
import { type Store, type Toast, cellState, createStore, gridSpec, quotedMultiplier } from './store';

const REJECTED_SHOWN_MS = 2500;
const TOAST_MS = 3500;
const PAST_COLUMNS_LOADED = 12;
const KEEP_COLUMNS = 60;
const LIMITS_REFRESH_MS = 1500;

export class Controller {
  readonly store: Store = createStore();
  readonly api = new Api();
  readonly trail = new PriceTrail();
  readonly feedback = new Feedback();
  readonly socket: TradeSocket;
  private sessionKey: CryptoKey | null = null;
  private resyncing = false;
  private resyncAgain = false;
  private limitsTimer: ReturnType<typeof setTimeout> | null = null;
  private pruneTimer: ReturnType<typeof setInterval> | null = null;

  constructor(wsUrl = defaultWsUrl()) {
    this.socket = new TradeSocket(wsUrl, {
      onMessage: (message) => this.onMessage(message),
      onOpen: () => {
        this.store.dispatch({ type: 'connection', connected: true });
        void this.resync();
      },
      onClose: () => this.store.dispatch({ type: 'connection', connected: false }),
    });
  }

  get state() {
    return this.store.getState();
  }

  /** Server time (the grid's clock), from the offset measured at the WebSocket's hello. */
  serverNow(): number {
    return Date.now() + this.state.serverOffsetMs;
  }

  async start(): Promise<void> {
    this.socket.start();
    this.pruneTimer ??= setInterval(() => this.prune(), 5000);
    try {
      this.store.dispatch({ type: 'grid', grid: await this.api.grid() });
    } catch (error) {
      this.toast(`Cannot reach the server: ${rejectionReason(error)}`, 'error');
    }
    void this.api.quotes().then((q) => this.onMessage(q), () => undefined);
    void this.api.price().then((p) => this.trail.push(p.ts_ms, p.price), () => undefined);
    void this.loadPastColumns();
    const stored = await loadSession(Date.now());
    if (stored !== null) {
      this.api.token = stored.token;
      this.sessionKey = stored.privateKey;
      const session = { address: stored.address, token: stored.token, expiresMs: stored.expiresMs, wallet: stored.wallet };
      this.store.dispatch({ type: 'signedIn', session, balance: null });
      this.socket.setToken(stored.token);
      // Checks the token (a 401 signs out) and fetches balance, limits and bets; a server that is down
      // leaves the session in place until the socket reconnects and resyncs.
      void this.resync();
    }
  }

  stop(): void {
    this.socket.stop();
    if (this.pruneTimer !== null) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
  }

  // --- sign-in -------------------------------------------------------------------------------------

  async signIn(signer: Signer, walletName: string): Promise<void> {
    const grid = this.state.grid ?? (await this.api.grid());
    const key = await createSessionKey();
    const { nonce } = await this.api.nonce();
    const issuedAt = new Date();
    const message = loginMessage({
      domain: window.location.host,
      uri: window.location.origin,
      address: signer.address,
      chainId: grid.chain_id,
      nonce,
      issuedAt,
      expirationTime: new Date(issuedAt.getTime() + LOGIN_VALID_MS),
      sessionKeySpki: key.spki,
    });
    const signature = await signer.signMessage(message);
    const answer = await this.api.login(message, signature);
    this.api.token = answer.token;
    this.sessionKey = key.privateKey;
    const session = { address: answer.address, token: answer.token, expiresMs: answer.expires_ms, wallet: walletName };
    await saveSession({ ...session, privateKey: key.privateKey, spki: key.spki });
    this.store.dispatch({ type: 'signedIn', session, balance: answer.balance });
    this.socket.setToken(answer.token);
    void this.resync();
  }

  async signOut(): Promise<void> {
    try {
      if (this.api.token !== null) await this.api.logout();
    } catch {
      // the session may be gone already
    }
    await this.forgetSession();
  }

  private async forgetSession(): Promise<void> {
    this.api.token = null;
    this.sessionKey = null;
    await clearSession();
    this.socket.setToken(null);
    this.store.dispatch({ type: 'signedOut' });
  }

  private async sessionEnded(): Promise<void> {
    this.toast('Your session ended: sign in again', 'error');
    await this.forgetSession();
  }

  // --- money ---------------------------------------------------------------------------------------

  async faucet(): Promise<void> {
    try {
      const answer = await this.api.faucet();
      this.store.dispatch({ type: 'balance', balance: answer.balance });
      this.toast(`+${formatCents(answer.amount)} play money`, 'info');
    } catch (error) {
      if (error instanceof ApiError && error.code === 'rate_limited') {
        this.toast('The faucet gives once every 10 minutes', 'error');
      } else {
        this.toast(rejectionReason(error), 'error');
      }
    }
  }

  /** Change the responsible-play limits; the error text on failure, null on success. */
  async setLimits(update: LimitsUpdate): Promise<string | null> {
    try {
      const limits = await this.api.putLimits(update);
      this.store.dispatch({ type: 'limits', limits });
      return null;
    } catch (error) {
      if (error instanceof ApiError && error.code === 'no_session') void this.sessionEnded();
      return limitsError(error);
    }
  }

  selectStake(cents: number): void {
    this.store.dispatch({ type: 'stake', cents });
  }

  // --- betting -------------------------------------------------------------------------------------

  /** A tap on a cell: bet the selected stake at once, no dialog. */
  async tap(cellId: string): Promise<void> {
    const state = this.state;
    const cell = parseCell(cellId);
    if (state.grid === null || cell === null) return;
    if (state.session === null || this.sessionKey === null) {
      this.toast('Sign in to bet', 'info');
      return;
    }
    const now = this.serverNow();
    const current = cellState(state, cell.column, cell.row, now);
    if (current !== 'open') {
      const spec = gridSpec(state.grid);
      if (current === 'closed' && cell.column < columnAt(spec, now) + spec.placeableMinOffset && cell.column >= columnAt(spec, now)) {
        this.toast('Too late for this column', 'info');
      }
      return;
    }
    const shown = quotedMultiplier(state.quotes, cell.column, cell.row);
    const stake = state.stake;
    if (shown === null || stake === null) return;
    const fields: BetFields = {
      bet_id: uuid(),
      cell: cellId,
      amount: stake,
      min_multiplier: minMultiplier(shown),
      nonce: uuid(),
      timestamp: Math.floor(now / 1000),
      chain_id: state.grid.chain_id,
    };
    const betId = fields.bet_id;
    this.store.dispatch({ type: 'betPlaced', bet: { betId, cell: cellId, ...cell, amount: stake, multiplier: shown } });
    this.feedback.tap();
    try {
      const signature = await signText(this.sessionKey, betMessage(fields));
      const answer = await this.api.placeBet({ ...fields, scheme: 'session', signature });
      this.store.dispatch({ type: 'betAnswered', bet: answer.bet, balance: answer.balance });
    } catch (error) {
      if (outcomeUnknown(error)) {
        this.store.dispatch({ type: 'betLost', betId });
        if (this.socket.connected) setTimeout(() => void this.reconcile(), 1000);
        return;
      }
      const reason = rejectionReason(error);
      this.store.dispatch({ type: 'betRejected', betId, reason });
      this.toast(reason, 'error');
      setTimeout(() => this.store.dispatch({ type: 'betCleared', betId }), REJECTED_SHOWN_MS);
      if (error instanceof ApiError && error.code === 'no_session') void this.sessionEnded();
    }
  }

  /** Ask the server about every bet whose fate we do not know (GET /api/bets/{id}). */
  async reconcile(): Promise<void> {
    for (const bet of Object.values(this.state.bets)) {
      if (bet.state !== 'unknown') continue;
      try {
        const answer = await this.api.bet(bet.betId);
        this.store.dispatch({ type: 'betsSynced', bets: [answer.bet] });
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) {
          this.store.dispatch({ type: 'betMissing', betId: bet.betId });
          setTimeout(() => this.store.dispatch({ type: 'betCleared', betId: bet.betId }), REJECTED_SHOWN_MS);
        }
        // anything else: still unknown, asked again at the next resync
      }
    }
  }

  /** Balance, limits, recent bets and unknown bets from the server: on (re)connect and on a `seq` gap. */
  async resync(): Promise<void> {
    if (this.state.session === null) return;
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = true;
    try {
      do {
        this.resyncAgain = false;
        this.store.dispatch({ type: 'resynced' });
        const [me, page] = await Promise.all([this.api.me(), this.api.bets({ limit: 100 })]);
        this.store.dispatch({ type: 'me', me });
        this.store.dispatch({ type: 'betsSynced', bets: page.bets.slice().reverse() });
        await this.reconcile();
      } while (this.resyncAgain);
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) void this.sessionEnded();
    } finally {
      this.resyncing = false;
    }
  }

  // --- the socket ----------------------------------------------------------------------------------

  private onMessage(message: ServerMessage): void {
    const store = this.store;
    switch (message.type) {
      case 'hello':
        store.dispatch({
          type: 'hello',
          grid: message.grid,
          serverMs: message.server_ms,
          localMs: Date.now(),
          status: { priceFeed: message.status.price_feed, betting: message.status.betting },
        });
        break;
      case 'price':
        this.trail.push(message.ts_ms, message.price);
        break;
      case 'quotes':
        this.trail.push(message.ts_ms, message.price);
        store.dispatch({ type: 'quotes', quotes: message });
        break;
      case 'status':
        store.dispatch({ type: 'status', status: { priceFeed: message.price_feed, betting: message.betting } });
        break;
      case 'column': {
        const { type: _type, ...column } = message;
        store.dispatch({ type: 'column', column });
        break;
      }
      case 'bet': {
        const before = this.state.bets[message.bet.cell];
        store.dispatch({ type: 'wsBet', seq: message.seq, bet: message.bet });
        this.refreshLimitsSoon();
        if (message.bet.status === 'won' && before?.state !== 'won') {
          this.feedback.win();
          this.toast(`Won ${formatCents(message.bet.payout ?? 0)}`, 'win');
        }
        break;
      }
      case 'balance':
        store.dispatch({ type: 'wsBalance', seq: message.seq, balance: message.balance });
        break;
      case 'pong':
        break;
    }
    if (this.state.resyncNeeded) void this.resync();
  }

  /** Today's loss moves with every stake, payout and refund: fetch the limits again shortly after (once per burst). */
  private refreshLimitsSoon(): void {
    if (this.limitsTimer !== null || this.state.session === null) return;
    this.limitsTimer = setTimeout(() => {
      this.limitsTimer = null;
      this.api.me().then(
        (me) => this.store.dispatch({ type: 'limits', limits: me.limits }),
        () => undefined, // the next event or resync tries again
      );
    }, LIMITS_REFRESH_MS);
  }

  private async loadPastColumns(): Promise<void> {
    const grid = this.state.grid;
    if (grid === null) return;
    const current = columnAt(gridSpec(grid), this.serverNow());
    for (let c = current - PAST_COLUMNS_LOADED; c < current; c += 1) {
      try {
        const column = await this.api.column(c);
        if (column.status !== 'open') this.store.dispatch({ type: 'column', column });
      } catch {
        return;
      }
    }
  }

  private prune(): void {
    const grid = this.state.grid;
    if (grid === null) return;
    const current = columnAt(gridSpec(grid), this.serverNow());
    this.store.dispatch({ type: 'prune', beforeColumn: current - KEEP_COLUMNS });
  }

  toast(text: string, kind: Toast['kind']): void {
    const id = this.state.nextToastId;
    this.store.dispatch({ type: 'toast', text, kind });
    setTimeout(() => this.store.dispatch({ type: 'toastDone', id }), TOAST_MS);
  }
}

function defaultWsUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss:' : 'ws:'}//${host}/ws`;
}

/** A v4 UUID (crypto.randomUUID needs a secure context; getRandomValues does not). */
function uuid(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
