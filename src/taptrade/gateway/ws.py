"""The WebSocket `/ws` (API.md): hello, price (<= 10 Hz, newest wins), quotes, status, column, and after
`auth` the user's own bet and balance events; ping/pong.

Each worker has one hub. A broadcast is encoded once and handed to every client; each client has its own
sender task, with one slot for the newest price and one for the newest quotes (a slow client simply
skips stale ones) and a small bounded queue for everything else. A client whose queue overflows, or whose
socket does not take a message within `SEND_TIMEOUT_S`, is closed with 1013 ("try again later"): one slow
client never delays the others. The send timeout is kept by one watchdog per hub rather than a timer per
message: `asyncio.wait_for` made a task and a timer for every message to every client, a third of a worker's
time at 2,000 clients (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import msgspec
import redis.asyncio as aioredis
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from uvicorn.protocols.utils import ClientDisconnected

from taptrade import bus
from taptrade.clock import Clock
from taptrade.commands import decode_events
from taptrade.gateway.market_view import MarketView
from taptrade.gateway.metrics import WS_CONNECTIONS
from taptrade.gateway.schemas import api_bet
from taptrade.gateway.sessions import Sessions
from taptrade.grid import GridSpec
from taptrade.market import FeedStatus, PriceTick, QuoteTable
from taptrade.money import format_multiplier
from taptrade.obs.logging import get_logger
from taptrade.redis_wire import Subscription

log = get_logger(__name__)

PRICE_INTERVAL_S = 0.1  # at most 10 price messages a second per client
QUEUE_MAX = 256
SEND_TIMEOUT_S = 5.0
WATCHDOG_INTERVAL_S = 1.0
CLIENT_MESSAGE_MAX_BYTES = 4096
CLOSE_TRY_AGAIN = 1013
CLOSE_POLICY = 1008
_encoder = msgspec.json.Encoder()


# How a send or receive fails when the peer has gone: starlette's disconnect, uvicorn's closed transport,
# starlette's "not connected" RuntimeError, or the socket's own error.
PEER_GONE = (WebSocketDisconnect, ClientDisconnected, RuntimeError, OSError)


class Client:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.address: str | None = None
        self.price: str | None = None
        self.quotes: str | None = None
        self.queue: deque[str] = deque()
        self.wake = asyncio.Event()
        self.closing = False
        self.sender: asyncio.Task[None] | None = None
        self.sending_since: float | None = None  # the event loop's time when the send under way began
        self.stalled = False  # set by the hub's watchdog, which then cancels the sender

    def offer_price(self, text: str) -> None:
        self.price = text
        self.wake.set()

    def offer_quotes(self, text: str) -> None:
        self.quotes = text
        self.wake.set()

    def offer(self, text: str) -> None:
        if len(self.queue) >= QUEUE_MAX:
            self.closing = True  # cannot keep up: the sender closes it with 1013
        else:
            self.queue.append(text)
        self.wake.set()

    async def send_forever(self) -> None:
        ws = self.websocket
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.closing:
                await _close(ws, CLOSE_TRY_AGAIN, "too slow")
                return
            while self.queue or self.price or self.quotes:
                # Own events, then the price (54 bytes, the thing a trader watches), then the quote table
                # (9 KB): with quotes first, a busy worker could spend every interval on quotes and never
                # get a price out.
                if self.queue:
                    text = self.queue.popleft()
                elif self.price is not None:
                    text, self.price = self.price, None
                else:
                    assert self.quotes is not None
                    text, self.quotes = self.quotes, None
                self.sending_since = loop.time()
                try:
                    await ws.send_text(text)
                except asyncio.CancelledError:
                    if not self.stalled:
                        raise
                    await _close(ws, CLOSE_TRY_AGAIN, "too slow")
                    return
                except PEER_GONE:
                    return  # the receiver ends the connection
                finally:
                    self.sending_since = None

    def stalled_for(self, now: float) -> float:
        """Seconds the send under way has taken so far (0 when none is)."""
        return 0.0 if self.sending_since is None else now - self.sending_since

    def stop_stalled(self) -> None:
        """Give up on a peer that has not taken a message in time: the sender closes it with 1013."""
        self.stalled = True
        if self.sender is not None:
            self.sender.cancel()


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):  # the peer may be gone already
        if ws.application_state is not WebSocketState.DISCONNECTED:
            await asyncio.wait_for(ws.close(code, reason), 1.0)


class Hub:
    """One worker's WebSocket clients and the Redis subscriptions that feed them."""

    def __init__(
        self, redis: aioredis.Redis, sessions: Sessions, grid: GridSpec, market: MarketView, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._grid = grid
        self._market = market
        self._clock = clock
        self.clients: set[Client] = set()
        self._by_address: dict[str, set[Client]] = {}
        self._price_sent: PriceTick | None = None
        self._price_arrived = asyncio.Event()
        market.listeners.append(self.on_market)
        self._tasks: list[asyncio.Task[None]] = []
        self._redis = redis
        self._events: Subscription | None = None

    async def start(self) -> None:
        self._events = Subscription(
            self._redis.connection_pool.connection_kwargs,
            [bus.EVENTS_CHANNEL, bus.COLUMNS_CHANNEL],
            self._on_event,
            name="ws_event",
        )
        await self._events.start()
        self._tasks = [
            asyncio.create_task(self._pace_prices(), name="ws-prices"),
            asyncio.create_task(self._watch_stalled(), name="ws-watchdog"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._events is not None:
            await self._events.close()

    # --- market messages (from the market view) -------------------------------------------------

    def on_market(self, channel: str) -> None:
        """The market view changed; prices go out through the pacer, at most 10 a second."""
        if channel == bus.PRICE_CHANNEL:
            self._price_arrived.set()
        elif channel == bus.QUOTES_CHANNEL and self._market.quotes is not None:
            text = _encoder.encode(quotes_message(self._market.quotes)).decode()
            for client in self.clients:
                client.offer_quotes(text)
        elif channel == bus.FEED_STATUS_CHANNEL:
            self.broadcast(status_message(self._market.status))

    def broadcast(self, message: dict[str, Any]) -> None:
        text = _encoder.encode(message).decode()
        for client in self.clients:
            client.offer(text)

    async def _pace_prices(self) -> None:
        """Send the newest tick at once when the last went out at least `PRICE_INTERVAL_S` ago, else at
        that moment: a tick never waits for a fixed timer (which added up to 100 ms to every price), and
        a burst of ticks still costs each client at most 10 messages a second, the newest winning."""
        loop = asyncio.get_running_loop()
        sent_at = -PRICE_INTERVAL_S
        while True:
            await self._price_arrived.wait()
            wait_s = sent_at + PRICE_INTERVAL_S - loop.time()
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._price_arrived.clear()
            tick = self._market.price
            if tick is None or tick is self._price_sent:
                continue
            self._price_sent = tick
            sent_at = loop.time()
            text = _encoder.encode({"type": "price", "price": tick.price, "ts_ms": tick.ts_ms}).decode()
            for client in self.clients:
                client.offer_price(text)

    async def _watch_stalled(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(WATCHDOG_INTERVAL_S)
            now = loop.time()
            for client in self.clients:
                if not client.stalled and client.stalled_for(now) > SEND_TIMEOUT_S:
                    client.stop_stalled()

    # --- per-user events and columns ------------------------------------------------------------

    def _on_event(self, channel: str, data: bytes) -> None:
        if channel == bus.COLUMNS_CHANNEL:
            with contextlib.suppress(msgspec.DecodeError):
                self.broadcast({"type": "column", **msgspec.json.decode(data)})
            return
        try:
            events = decode_events(data)
        except msgspec.DecodeError:
            log.error("ws_events_undecodable")
            return
        for event in events:
            for client in self._by_address.get(event.address, ()):
                if event.type == "bet" and event.bet is not None:
                    body = {"type": "bet", "seq": event.seq, "bet": api_bet(event.bet, self._grid)}
                else:
                    body = {"type": "balance", "seq": event.seq, "balance": event.balance}
                client.offer(_encoder.encode(body).decode())

    # --- one connection -------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, grid: dict[str, Any]) -> None:
        await websocket.accept()
        client = Client(websocket)
        market = self._market
        hello = {"type": "hello", "server_ms": self._clock.now_ms(), "grid": grid,
                 "status": status_message(market.status)}  # fmt: skip
        client.offer(_encoder.encode(hello).decode())
        if market.quotes is not None:
            client.offer_quotes(_encoder.encode(quotes_message(market.quotes)).decode())
        if market.price is not None:
            price = {"type": "price", "price": market.price.price, "ts_ms": market.price.ts_ms}
            client.offer_price(_encoder.encode(price).decode())
        self.clients.add(client)
        WS_CONNECTIONS.inc()
        sender = client.sender = asyncio.create_task(client.send_forever(), name="ws-send")
        receiver = asyncio.create_task(self._receive(client), name="ws-receive")
        try:
            # Either side ends the connection: the peer leaves, or the sender gave up on a stalled peer
            # (which may never send anything again).
            await asyncio.wait((sender, receiver), return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.clients.discard(client)
            WS_CONNECTIONS.dec()
            if client.address is not None:
                self._by_address.get(client.address, set()).discard(client)
            for task in (sender, receiver):
                task.cancel()
            for task in (sender, receiver):
                # A task may end with the peer's disconnect as well as with the cancel: neither is news.
                with contextlib.suppress(asyncio.CancelledError, *PEER_GONE):
                    await task

    async def _receive(self, client: Client) -> None:
        ws = client.websocket
        while True:
            try:
                text = await ws.receive_text()
            except (WebSocketDisconnect, RuntimeError, KeyError):
                return  # gone, or sent a binary frame (not ours)
            if len(text) > CLIENT_MESSAGE_MAX_BYTES:
                await _close(ws, CLOSE_POLICY, "message too large")
                return
            try:
                message = msgspec.json.decode(text)
            except msgspec.DecodeError:
                await _close(ws, CLOSE_POLICY, "not JSON")
                return
            kind = message.get("type") if isinstance(message, dict) else None
            if kind == "ping":
                client.offer('{"type":"pong"}')
            elif kind == "auth" and isinstance(message.get("token"), str):
                session = await self._sessions.lookup(message["token"], self._clock.now_ms())
                if session is None:
                    await _close(ws, CLOSE_POLICY, "no_session")
                    return
                client.address = session.address
                self._by_address.setdefault(session.address, set()).add(client)
            # anything else is ignored: the protocol may grow


def quotes_message(table: QuoteTable) -> dict[str, Any]:
    """The API's quotes message: multipliers as 4-place decimal strings, null where not offered."""
    return {
        "type": "quotes",
        "quote_id": table.quote_id,
        "ts_ms": table.ts_ms,
        "price": table.price,
        "first_column": table.first_column,
        "first_row": table.first_row,
        "multipliers": [
            [None if m is None else format_multiplier(m) for m in rows] for rows in table.multipliers_e4
        ],
    }


def status_message(status: FeedStatus | None) -> dict[str, Any]:
    if status is None:
        return {"type": "status", "price_feed": "critical", "betting": "suspended", "since_ms": 0}
    return {
        "type": "status",
        "price_feed": status.price_feed,
        "betting": status.betting,
        "since_ms": status.since_ms,
    }
