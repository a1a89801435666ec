/**
 * The WebSocket /ws client: reconnects with exponential backoff and full jitter, sends
 * {"type":"auth","token"} on every (re)connection once signed in, pings to notice a dead link,
 * and reports opens and closes so the app can resync (API.md "WebSocket").
 */
import { type BackoffOptions, DEFAULT_BACKOFF, backoffDelay } from './backoff';
import type { ServerMessage } from './types';

export interface SocketHandlers {
  onMessage(message: ServerMessage): void;
  onOpen(): void;
  onClose(): void;
}

export interface SocketOptions {
  backoff?: BackoffOptions;
  /** No message for this long (prices arrive many times a second) means the link is dead. */
  silenceMs?: number;
  pingEveryMs?: number;
  random?: () => number;
  createSocket?: (url: string) => WebSocket;
}

export class TradeSocket {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private token: string | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private watchdog: ReturnType<typeof setInterval> | null = null;
  private lastMessageMs = 0;
  private lastPingMs = 0;
  private pausedUntilMs = 0;
  private stopped = false;
  readonly options: Required<SocketOptions>;

  constructor(
    private readonly url: string,
    private readonly handlers: SocketHandlers,
    options: SocketOptions = {},
  ) {
    this.options = {
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      silenceMs: options.silenceMs ?? 15_000,
      pingEveryMs: options.pingEveryMs ?? 5_000,
      random: options.random ?? Math.random,
      createSocket: options.createSocket ?? ((u) => new WebSocket(u)),
    };
  }

  get connected(): boolean {
    return this.socket?.readyState === 1; // OPEN
  }

  start(): void {
    this.stopped = false;
    this.connect();
    this.watchdog ??= setInterval(() => this.checkAlive(), 1000);
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    if (this.watchdog !== null) clearInterval(this.watchdog);
    this.reconnectTimer = null;
    this.watchdog = null;
    this.socket?.close();
    this.socket = null;
  }

  /** Signed in (or out): authenticate the live connection now, and every later one. */
  setToken(token: string | null): void {
    const changed = token !== this.token;
    this.token = token;
    if (!changed || !this.connected) return;
    if (token === null) this.drop(0); // a fresh, anonymous connection
    else this.send({ type: 'auth', token });
  }

  /** Close the connection as a network failure would, and stay down for `pauseMs` (tests, and logout). */
  drop(pauseMs: number): void {
    this.pausedUntilMs = Date.now() + pauseMs;
    this.socket?.close(4000, 'dropped by the client');
  }

  private send(message: object): void {
    if (this.connected) this.socket?.send(JSON.stringify(message));
  }

  private connect(): void {
    if (this.stopped) return;
    this.reconnectTimer = null;
    const socket = this.options.createSocket(this.url);
    this.socket = socket;
    this.lastMessageMs = Date.now();
    socket.onopen = () => {
      if (socket !== this.socket) return;
      if (this.token !== null) this.send({ type: 'auth', token: this.token });
      this.handlers.onOpen();
    };
    socket.onmessage = (event: MessageEvent) => {
      if (socket !== this.socket) return;
      this.lastMessageMs = Date.now();
      let message: ServerMessage;
      try {
        message = JSON.parse(String(event.data)) as ServerMessage;
      } catch {
        return;
      }
      if (message.type === 'hello') this.attempt = 0; // a working connection resets the backoff
      this.handlers.onMessage(message);
    };
    socket.onclose = () => {
      if (socket !== this.socket) return;
      this.socket = null;
      this.handlers.onClose();
      this.scheduleReconnect();
    };
    socket.onerror = () => socket.close();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer !== null) return;
    const pause = Math.max(0, this.pausedUntilMs - Date.now());
    const delay = pause + backoffDelay(this.attempt, this.options.backoff, this.options.random);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }

  private checkAlive(): void {
    if (!this.connected) return;
    const now = Date.now();
    if (now - this.lastMessageMs > this.options.silenceMs) {
      this.socket?.close(4001, 'silent');
    } else if (now - this.lastPingMs > this.options.pingEveryMs) {
      this.lastPingMs = now;
      this.send({ type: 'ping' });
    }
  }
}
