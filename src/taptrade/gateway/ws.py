"""The WebSocket `/ws` (API.md): hello, price (<= 10 Hz, newest wins), quotes, status, column, and after
`auth` the user's own bet and balance events; ping/pong.

Each worker has one hub. A broadcast is encoded and framed once, and the same bytes are written to every
client whose socket is taking data, in one pass (ws_wire.py), except the 9 KB quote table, handed out a slice
of clients at a time so that a price never waits for all of it; a client whose socket is not gets it from its
own sender task, which holds one slot for the newest price and one for the newest quotes (a slow client
simply skips stale ones) and a small bounded queue for everything else, and writes them when the socket
takes data again. A client whose queue overflows, or whose socket takes nothing for `SEND_TIMEOUT_S`, is
closed with 1013 ("try again later"): one slow client never delays the others. The send timeout is kept
by one watchdog per hub rather than a timer per message: `asyncio.wait_for` made a task and a timer for
every message to every client, a third of a worker's time at 2,000 clients (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
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
from taptrade.gateway.ws_wire import Wire, text_frame, wire_of
from taptrade.grid import GridSpec
from taptrade.market import FeedStatus, PriceTick, QuoteTable
from taptrade.money import format_multiplier
from taptrade.obs.logging import get_logger
from taptrade.redis_wire import Subscription

log = get_logger(__name__)

PRICE_INTERVAL_S = 0.1  # at most 10 price messages a second per client
# How much earlier than its slot a price may leave (one price's worth), and the least time between two:
# a late price is caught up on instead of delaying every later one (PriceSchedule).
PRICE_TOLERANCE_S = 0.1
PRICE_MIN_GAP_S = 0.075
QUEUE_MAX = 256
QUOTES_SLICE = 200  # clients given a quote table between two turns of the loop (Hub._hand_out_quotes)
SEND_TIMEOUT_S = 5.0
WATCHDOG_INTERVAL_S = 1.0
CLIENT_MESSAGE_MAX_BYTES = 4096
CLOSE_TRY_AGAIN = 1013
CLOSE_POLICY = 1008
_encoder = msgspec.json.Encoder()
PONG_FRAME = text_frame(b'{"type":"pong"}')


# How a send or receive fails when the peer has gone: starlette's disconnect, uvicorn's closed transport,
# starlette's "not connected" RuntimeError, or the socket's own error.
PEER_GONE = (WebSocketDisconnect, ClientDisconnected, RuntimeError, OSError)


class Client:
    """One connection's outgoing messages, as frames (`text_frame`): written at once while the socket takes
    data and nothing is held; else held (own events queued, the newest price and quotes in a slot each)
    for the sender task."""

    def __init__(self, websocket: WebSocket, wire: Wire) -> None:
        self.websocket = websocket
        self.wire = wire
        self.address: str | None = None
        self.price: bytes | None = None
        self.quotes: bytes | None = None
        self.queue: deque[bytes] = deque()
        self.wake = asyncio.Event()
        self.closing = False
        self.sender: asyncio.Task[None] | None = None
        self.waiting_since: float | None = None  # the loop's time the sender began to wait for the socket
        self.stalled = False  # set by the hub's watchdog, which then cancels the sender

    def _held(self) -> bool:
        """Something waits for the socket already: a new message joins it rather than jump ahead of it."""
        return self.closing or bool(self.queue) or self.price is not None or self.quotes is not None

    def _write_now(self, frame: bytes) -> bool:
        """Write the frame if nothing is held and the socket takes data; False: the caller holds it."""
        wire = self.wire
        if self._held() or not wire.writable:
            return False
        if wire.open:  # else the peer has gone: the receiver ends the connection
            wire.write(frame)
        return True

    def offer_price(self, frame: bytes) -> None:
        if not self._write_now(frame):
            self.price = frame
            self.wake.set()

    def offer_quotes(self, frame: bytes) -> None:
        if not self._write_now(frame):
            self.quotes = frame
            self.wake.set()

    def offer(self, frame: bytes) -> None:
        if len(self.queue) >= QUEUE_MAX:
            self.closing = True  # cannot keep up: the sender closes it with 1013
            self.wake.set()
        elif not self._write_now(frame):
            self.queue.append(frame)
            self.wake.set()

    def _next_held(self) -> bytes:
        # Own events, then the price (54 bytes, the thing a trader watches), then the quote table (9 KB):
        # with quotes first, a busy worker could spend every interval on quotes and never get a price out.
        if self.queue:
            return self.queue.popleft()
        if self.price is not None:
            frame, self.price = self.price, None
            return frame
        assert self.quotes is not None
        frame, self.quotes = self.quotes, None
        return frame

    async def send_forever(self) -> None:
        """Write what is held as the socket takes it; close with 1013 a client that cannot keep up."""
        loop = asyncio.get_running_loop()
        wire = self.wire
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self._held():
                if self.closing:
                    await _close(self.websocket, CLOSE_TRY_AGAIN, "too slow")
                    return
                if not wire.writable:
                    self.waiting_since = loop.time()
                    try:
                        await wire.wait_writable()
                    except asyncio.CancelledError:
                        if not self.stalled:
                            raise
                        await _close(self.websocket, CLOSE_TRY_AGAIN, "too slow")
                        return
                    finally:
                        self.waiting_since = None
                    continue
                if not wire.open:
                    return  # the peer has gone: the receiver ends the connection
                wire.write(self._next_held())

    def stalled_for(self, now: float) -> float:
        """Seconds the sender has waited for the socket so far (0 when it is not waiting)."""
        return 0.0 if self.waiting_since is None else now - self.waiting_since

    def stop_stalled(self) -> None:
        """Give up on a peer that has not taken a message in time: the sender closes it with 1013."""
        self.stalled = True
        if self.sender is not None:
            self.sender.cancel()


class PriceSchedule:
    """When the next price may go out: one per `interval_s` on average, a price allowed up to `tolerance_s`
    before its slot (the generic cell rate algorithm of traffic shaping), and never within `min_gap_s` of
    the last one. Over any second that is at most one price more than 10.

    Why not simply "100 ms after the last one went out": on a 10 Hz feed, a price sent a little late (the
    loop was busy, the sleep overshot) moved every later slot with it, and the hold grew tick by tick until
    a tick was overtaken: a saw-tooth of 0-100 ms on every price, 62 ms at the median at 2,000 clients.
    Slots without tolerance follow the schedule but keep a lateness for good once the input runs at the
    cap; with one price of tolerance and a 75 ms floor, a late price is caught up on 25 ms a tick
    (docs/benchmarks.md has both, measured and simulated).
    """

    def __init__(
        self,
        interval_s: float = PRICE_INTERVAL_S,
        tolerance_s: float = PRICE_TOLERANCE_S,
        min_gap_s: float = PRICE_MIN_GAP_S,
    ) -> None:
        self._interval_s = interval_s
        self._tolerance_s = tolerance_s
        self._min_gap_s = min_gap_s
        self._due = -math.inf  # the next price's slot: its theoretical send time
        self._last = -math.inf

    def wait_s(self, now: float) -> float:
        """How long a price that is ready at `now` must wait."""
        return max(0.0, self._due - self._tolerance_s - now, self._last + self._min_gap_s - now)

    def sent(self, now: float) -> None:
        self._due = max(self._due, now) + self._interval_s
        self._last = now


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
        self._quotes_frame: bytes | None = None
        self._quotes_arrived = asyncio.Event()
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
            asyncio.create_task(self._hand_out_quotes(), name="ws-quotes"),
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
            self._quotes_frame = text_frame(_encoder.encode(quotes_message(self._market.quotes)))
            self._quotes_arrived.set()
        elif channel == bus.FEED_STATUS_CHANNEL:
            self.broadcast(status_message(self._market.status))

    def broadcast(self, message: dict[str, Any]) -> None:
        frame = text_frame(_encoder.encode(message))
        for client in self.clients:
            client.offer(frame)

    async def _pace_prices(self) -> None:
        """Send the newest tick as soon as its `PriceSchedule` slot allows: a tick never waits for a fixed
        timer (which added up to 100 ms to every price), and a burst of ticks still costs each client at
        most 10 messages a second, the newest winning."""
        loop = asyncio.get_running_loop()
        schedule = PriceSchedule(PRICE_INTERVAL_S, PRICE_TOLERANCE_S, PRICE_MIN_GAP_S)
        while True:
            await self._price_arrived.wait()
            wait_s = schedule.wait_s(loop.time())
            if wait_s > 0:
                await asyncio.sleep(wait_s)
            self._price_arrived.clear()
            tick = self._market.price
            if tick is None or tick is self._price_sent:
                continue
            self._price_sent = tick
            schedule.sent(loop.time())
            frame = text_frame(_encoder.encode({"type": "price", "price": tick.price, "ts_ms": tick.ts_ms}))
            for client in self.clients:
                client.offer_price(frame)

    async def _hand_out_quotes(self) -> None:
        """Write each new quote table to every client, `QUOTES_SLICE` clients at a time, letting the loop
        run between slices. A table is 9 KB where a price is 54 bytes: written to thousands of clients in
        one pass it held the loop for tens of milliseconds, and a price that arrived then waited for all
        of it. Between slices a price goes out first; a newer table replaces the one being handed out, and
        the pass starts again with it (newest wins, as for a slow client)."""
        while True:
            await self._quotes_arrived.wait()
            self._quotes_arrived.clear()
            frame = self._quotes_frame
            if frame is None:
                continue
            clients = list(self.clients)
            for start in range(0, len(clients), QUOTES_SLICE):
                if self._quotes_arrived.is_set():
                    break
                for client in clients[start : start + QUOTES_SLICE]:
                    client.offer_quotes(frame)
                await asyncio.sleep(0)

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
                client.offer(text_frame(_encoder.encode(body)))

    # --- one connection -------------------------------------------------------------------------

    async def serve(self, websocket: WebSocket, grid: dict[str, Any]) -> None:
        await websocket.accept()
        client = Client(websocket, wire_of(websocket))
        market = self._market
        hello = {"type": "hello", "server_ms": self._clock.now_ms(), "grid": grid,
                 "status": status_message(market.status)}  # fmt: skip
        client.offer(text_frame(_encoder.encode(hello)))
        if market.price is not None:  # the price before the quote table, as the sender orders them
            price = {"type": "price", "price": market.price.price, "ts_ms": market.price.ts_ms}
            client.offer_price(text_frame(_encoder.encode(price)))
        if market.quotes is not None:
            client.offer_quotes(text_frame(_encoder.encode(quotes_message(market.quotes))))
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
                client.offer(PONG_FRAME)
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
