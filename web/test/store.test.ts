import { describe, expect, it } from 'vitest';
import { type Action, NOT_PLACED, type State, cellState, initialState, lossRoom, reducer } from '../src/app/store';
import type { Bet, GridAnswer, QuotesMessage } from '../src/lib/types';

const grid: GridAnswer = {
  column_seconds: 5,
  row_cents: 1000,
  placeable_min_offset: 2,
  max_ahead_columns: 30,
  stake_presets_cents: [100, 500, 1000, 2500, 5000, 10000],
  chain_id: 1,
  currency: 'USD',
  mode: 'demo',
  feed: 'simulated',
};
const NOW = 1000 * 5000 + 1000; // column 1000, 1 s in
const quotes: QuotesMessage = {
  type: 'quotes',
  quote_id: 1,
  ts_ms: NOW,
  price: 6_000_500,
  first_column: 1002,
  first_row: 5995,
  multipliers: Array.from({ length: 29 }, () => Array.from({ length: 11 }, () => '2.5000')),
};
const session = { address: '0xabc', token: 't', expiresMs: NOW + 1e6, wallet: 'Demo wallet' };

function run(...actions: Action[]): State {
  return actions.reduce(reducer, initialState);
}

const ready: Action[] = [
  { type: 'grid', grid },
  { type: 'status', status: { priceFeed: 'healthy', betting: 'open' } },
  { type: 'quotes', quotes },
  { type: 'signedIn', session, balance: 10_000 },
];

function serverBet(overrides: Partial<Bet> = {}): Bet {
  return {
    bet_id: 'b1',
    cell: '1003:6000',
    column: 1003,
    row: 6000,
    lower: 6_000_000,
    upper: 6_001_000,
    start_ms: 1003 * 5000,
    end_ms: 1004 * 5000,
    amount: 1000,
    multiplier: '2.5000',
    quote_id: 1,
    status: 'confirmed',
    payout: null,
    placed_ms: NOW,
    resolved_ms: null,
    ...overrides,
  };
}

const placed: Action = {
  type: 'betPlaced',
  bet: { betId: 'b1', cell: '1003:6000', column: 1003, row: 6000, amount: 1000, multiplier: '2.5000' },
};

describe('cell states', () => {
  it('opens only placeable, quoted cells while betting is open', () => {
    const s = run(...ready);
    expect(cellState(s, 1003, 6000, NOW)).toBe('open');
    expect(cellState(s, 1001, 6000, NOW)).toBe('closed'); // the next column: too late
    expect(cellState(s, 1000, 6000, NOW)).toBe('closed'); // current
    expect(cellState(s, 1031, 6000, NOW)).toBe('closed'); // beyond the horizon
    expect(cellState(s, 1003, 5000, NOW)).toBe('closed'); // no quote for this row
    expect(cellState(s, 1003, 6000, NOW + 4000)).toBe('closed'); // quotes too old
    const suspended = reducer(s, { type: 'status', status: { priceFeed: 'critical', betting: 'suspended' } });
    expect(cellState(suspended, 1003, 6000, NOW)).toBe('closed');
  });

  it('picks a default stake from the presets', () => {
    expect(run(...ready).stake).toBe(1000);
    expect(run(...ready, { type: 'stake', cents: 500 }, { type: 'grid', grid }).stake).toBe(500);
  });
});

describe('bet transitions', () => {
  it('pending -> confirmed -> won, with the payout and balance', () => {
    let s = run(...ready, placed);
    expect(cellState(s, 1003, 6000, NOW)).toBe('pending');
    s = reducer(s, { type: 'betAnswered', bet: serverBet(), balance: 9000 });
    expect(s.bets['1003:6000']).toMatchObject({ state: 'confirmed', httpDone: true });
    expect(s.balance).toBe(9000);
    s = reducer(s, { type: 'wsBet', seq: 1, bet: serverBet({ status: 'won', payout: 2500 }) });
    expect(s.bets['1003:6000']).toMatchObject({ state: 'won', payout: 2500 });
  });

  it('confirms on the WebSocket event before the HTTP answer, and never moves back', () => {
    let s = run(...ready, placed, { type: 'wsBet', seq: 1, bet: serverBet() });
    expect(s.bets['1003:6000']?.state).toBe('confirmed');
    s = reducer(s, { type: 'wsBet', seq: 2, bet: serverBet({ status: 'lost', payout: 0 }) });
    s = reducer(s, { type: 'betAnswered', bet: serverBet(), balance: 9000 });
    s = reducer(s, { type: 'betsSynced', bets: [serverBet()] });
    expect(s.bets['1003:6000']).toMatchObject({ state: 'lost', httpDone: true });
  });

  it('rejected shows its reason, then the cell reverts to open', () => {
    let s = run(...ready, placed, { type: 'betRejected', betId: 'b1', reason: 'Insufficient balance' });
    expect(s.bets['1003:6000']).toMatchObject({ state: 'rejected', reason: 'Insufficient balance' });
    s = reducer(s, { type: 'betCleared', betId: 'b1' });
    expect(cellState(s, 1003, 6000, NOW)).toBe('open');
  });

  it('a socket drop makes pending bets unknown; the server settles them', () => {
    let s = run(...ready, placed, { type: 'connection', connected: false });
    expect(s.bets['1003:6000']?.state).toBe('unknown');
    s = reducer(s, { type: 'betLost', betId: 'b1' });
    s = reducer(s, { type: 'connection', connected: true });
    s = reducer(s, { type: 'betsSynced', bets: [serverBet()] });
    expect(s.bets['1003:6000']?.state).toBe('confirmed');
  });

  it('an unknown bet the server never saw becomes rejected, only once the request is over', () => {
    let s = run(...ready, placed, { type: 'connection', connected: false }, { type: 'betMissing', betId: 'b1' });
    expect(s.bets['1003:6000']?.state).toBe('unknown'); // the POST may still land
    s = reducer(s, { type: 'betLost', betId: 'b1' });
    s = reducer(s, { type: 'betMissing', betId: 'b1' });
    expect(s.bets['1003:6000']).toMatchObject({ state: 'rejected', reason: NOT_PLACED });
  });

  it('a late HTTP answer settles an unknown bet', () => {
    const s = run(...ready, placed, { type: 'connection', connected: false }, { type: 'betAnswered', bet: serverBet(), balance: 9000 });
    expect(s.bets['1003:6000']?.state).toBe('confirmed');
  });
});

describe('event sequence', () => {
  it('flags a gap in seq for a resync, and clears the flag', () => {
    let s = run(...ready, { type: 'wsBalance', seq: 5, balance: 1 }, { type: 'wsBalance', seq: 6, balance: 2 });
    expect(s.resyncNeeded).toBe(false);
    s = reducer(s, { type: 'wsBalance', seq: 8, balance: 3 });
    expect(s.resyncNeeded).toBe(true);
    expect(s.lastSeq).toBe(8);
    s = reducer(s, { type: 'resynced' });
    expect(s.resyncNeeded).toBe(false);
  });

  it('forgets the sequence when the socket drops (a new connection starts its own)', () => {
    const s = run(...ready, { type: 'wsBalance', seq: 5, balance: 1 }, { type: 'connection', connected: false });
    expect(s.lastSeq).toBeNull();
    expect(reducer(s, { type: 'wsBalance', seq: 9, balance: 1 }).resyncNeeded).toBe(false);
  });
});

describe('limits', () => {
  it('computes the room left under the daily loss limit', () => {
    const limits = (daily_loss_limit: number | null, loss_today: number) => ({
      daily_loss_limit,
      loss_today,
      paused_until_ms: null,
      pending: null,
    });
    expect(lossRoom(null)).toBeNull();
    expect(lossRoom(limits(null, 500))).toBeNull();
    expect(lossRoom(limits(5000, 1500))).toBe(3500);
    expect(lossRoom(limits(1000, 1500))).toBe(0);
    // The limit is on the day's net loss: winnings give room back.
    expect(lossRoom(limits(1000, -2500))).toBe(3500);
  });
});

describe('pruning', () => {
  it('drops settled bets and columns that scrolled far away, keeps open questions', () => {
    let s = run(...ready, placed, { type: 'connection', connected: false });
    s = reducer(s, { type: 'betsSynced', bets: [serverBet({ bet_id: 'old', cell: '900:6000', column: 900, status: 'lost' })] });
    s = reducer(s, { type: 'prune', beforeColumn: 1500 });
    expect(Object.keys(s.bets)).toEqual(['1003:6000']);
  });
});
