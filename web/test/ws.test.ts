import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TradeSocket } from '../src/lib/ws';

class FakeSocket {
  static all: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((e: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  send(text: string) {
    this.sent.push(text);
  }
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.();
  }
  open() {
    this.readyState = 1;
    this.onopen?.();
  }
  receive(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

describe('TradeSocket', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.all = [];
  });
  afterEach(() => vi.useRealTimers());

  function make() {
    const events: string[] = [];
    const socket = new TradeSocket(
      'ws://x/ws',
      {
        onMessage: (m) => events.push(`message:${m.type}`),
        onOpen: () => events.push('open'),
        onClose: () => events.push('close'),
      },
      { random: () => 0.5, backoff: { baseMs: 1000, capMs: 8000 }, createSocket: (u) => new FakeSocket(u) as unknown as WebSocket },
    );
    return { socket, events };
  }

  it('authenticates on open once it has a token, and on every reconnection', () => {
    const { socket } = make();
    socket.setToken('tok');
    socket.start();
    FakeSocket.all[0]!.open();
    expect(FakeSocket.all[0]!.sent).toEqual(['{"type":"auth","token":"tok"}']);
    FakeSocket.all[0]!.close();
    vi.advanceTimersByTime(1000);
    FakeSocket.all[1]!.open();
    expect(FakeSocket.all[1]!.sent).toEqual(['{"type":"auth","token":"tok"}']);
    socket.stop();
  });

  it('sends auth at once when signing in on a live connection', () => {
    const { socket } = make();
    socket.start();
    FakeSocket.all[0]!.open();
    socket.setToken('later');
    expect(FakeSocket.all[0]!.sent).toEqual(['{"type":"auth","token":"later"}']);
    socket.stop();
  });

  it('reconnects with growing jittered delays, reset by a hello', () => {
    const { socket, events } = make();
    socket.start();
    const failAndCount = (waitMs: number) => {
      const before = FakeSocket.all.length;
      FakeSocket.all[before - 1]!.close();
      vi.advanceTimersByTime(waitMs - 1);
      const early = FakeSocket.all.length;
      vi.advanceTimersByTime(1);
      return [early - before, FakeSocket.all.length - before];
    };
    // random 0.5 of ceilings 1000, 2000, 4000 -> 500, 1000, 2000
    expect(failAndCount(500)).toEqual([0, 1]);
    expect(failAndCount(1000)).toEqual([0, 1]);
    expect(failAndCount(2000)).toEqual([0, 1]);
    const last = FakeSocket.all[FakeSocket.all.length - 1]!;
    last.open();
    last.receive({ type: 'hello', server_ms: 1, grid: {}, status: {} });
    expect(failAndCount(500)).toEqual([0, 1]);
    expect(events).toContain('message:hello');
    socket.stop();
  });

  it('drop() closes like a network failure and stays down for the pause', () => {
    const { socket, events } = make();
    socket.start();
    FakeSocket.all[0]!.open();
    socket.drop(3000);
    expect(events).toEqual(['open', 'close']);
    vi.advanceTimersByTime(3000 + 499);
    expect(FakeSocket.all.length).toBe(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all.length).toBe(2);
    socket.stop();
  });

  it('closes a silent connection so that it reconnects, and pings a live one', () => {
    const { socket, events } = make();
    socket.start();
    FakeSocket.all[0]!.open();
    vi.advanceTimersByTime(6000);
    expect(FakeSocket.all[0]!.sent).toContain('{"type":"ping"}');
    vi.advanceTimersByTime(10_000);
    expect(events).toContain('close');
    socket.stop();
  });
});
