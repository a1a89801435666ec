"""The reconnecting WebSocket client loop every exchange source shares.

`ExchangeSource.events()` connects, sends the subclass's subscribe messages, hands every frame to the
subclass's `parse`, and yields the resulting ticks and heartbeats, forever:

- Bad data never ends the stream: a frame that is not what the exchange promised (not JSON, wrong shape,
  a price that is not a positive decimal, larger than `max_frame_bytes`) is dropped and counted.
- Trades arrive at most once and in order: a trade whose id (or, without ids, whose time) is not past
  the last one yielded is dropped and counted. The memory outlives the connection, so what an exchange
  replays after a reconnect (Coinbase's `last_match`, a resent burst) is not counted twice.
- Any disconnect or error reconnects after a full-jitter backoff: a network error, the exchange closing
  (Binance ends every connection at 24 h), a protocol error, or silence: no frame for `receive_timeout_s`
  means the connection is dead even if TCP has not noticed. The backoff resets once a connection has
  delivered data for `healthy_after_ms`.

Protocol pings are answered by `websockets` itself while frames are read; the client also pings the
server every `ping_interval_s` so a half-open TCP connection is noticed. Whoever iterates `events()` must
keep up: a consumer that stops reading stops the pongs too, and the exchange will hang up.
"""

from __future__ import annotations

import abc
import asyncio
import json
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.frames import CloseCode
from websockets.uri import parse_uri

from taptrade.clock import SystemClock
from taptrade.feed.backoff import Backoff
from taptrade.feed.events import Heartbeat, SourceEvent, Tick
from taptrade.money import price_to_cents
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

JsonObject = dict[str, Any]

# Log the first few malformed frames in full, then one in a thousand: a broken stream must not flood the logs.
_LOG_FIRST_N = 10
_LOG_EVERY_N = 1000
_EXCERPT_CHARS = 200


class MalformedFrame(ValueError):
    """A frame that is not what the exchange promised: dropped and counted, never fatal."""


class ReconnectRequested(Exception):
    """The exchange told us to go (Binance `serverShutdown`): close now and reconnect."""


class ReceiveTimeout(Exception):
    """No frame for longer than the receive timeout: the connection is taken as dead."""


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Limits and timeouts of one exchange connection."""

    # Well under the breaker's 10 s CRITICAL, so a dead socket is replaced before betting is suspended.
    receive_timeout_s: float = 5.0
    max_frame_bytes: int = 1 << 20
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    open_timeout_s: float = 10.0
    close_timeout_s: float = 1.0  # a dead peer will not answer our close frame; do not wait long for it
    healthy_after_ms: int = 30_000  # a connection that delivered data this long resets the backoff


@dataclass(slots=True)
class SourceStats:
    """Counters of one source since it was created (across reconnects)."""

    connects: int = 0
    reconnects: int = 0
    messages: int = 0  # frames received
    ticks: int = 0  # yielded
    heartbeats: int = 0  # yielded
    malformed: int = 0  # frames dropped as unparseable or over the size limit
    duplicates_or_out_of_order: int = 0  # trades dropped: id (or time) not past the last one yielded
    trade_id_gaps: int = 0  # times the trade id jumped by more than one (trades missed, e.g. while away)
    exchange_errors: int = 0  # error messages the exchange sent us
    last_error: str | None = None


def load_object(frame: str | bytes) -> JsonObject:
    """A frame's JSON object, or MalformedFrame."""
    try:
        value = json.loads(frame)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise MalformedFrame(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedFrame(f"expected a JSON object, got {type(value).__name__}")
    return value


def field_object(obj: JsonObject, key: str) -> JsonObject:
    value = obj.get(key)
    if not isinstance(value, dict):
        raise MalformedFrame(f"field {key!r} is not an object")
    return value


def field_str(obj: JsonObject, key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise MalformedFrame(f"field {key!r} is not a string")
    return value


def field_int(obj: JsonObject, key: str) -> int:
    """A non-negative JSON integer (ids, Unix milliseconds); booleans and floats are refused."""
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise MalformedFrame(f"field {key!r} is not a non-negative integer")
    return value


def field_price_cents(obj: JsonObject, key: str) -> int:
    """A decimal price string in integer cents (half-even), or MalformedFrame."""
    try:
        return price_to_cents(field_str(obj, key))
    except MalformedFrame:
        raise
    except ValueError as exc:
        raise MalformedFrame(str(exc)) from None


def _excerpt(frame: str | bytes) -> str:
    text = frame if isinstance(frame, str) else frame[:_EXCERPT_CHARS].decode("utf-8", "replace")
    return text[:_EXCERPT_CHARS]


def _worth_logging(count: int) -> bool:
    return count <= _LOG_FIRST_N or count % _LOG_EVERY_N == 0


class ExchangeSource(abc.ABC):
    """One exchange's WebSocket feed as an endless stream of `Tick` and `Heartbeat`.

    Subclasses give `name`, the URL, `subscribe_messages()` and `parse()`. `clock` (Unix ms) stamps
    `received_ms` and times the healthy-connection rule; `backoff` and `sleep` pace reconnects. All three
    are injected so tests neither wait nor depend on the wall clock.
    """

    name: str = "exchange"
    # What the feed service asks of every source: exchange times are live (the skew between them and our
    # clock is meaningful) and are served as they come, with no replay offset.
    measures_skew: bool = True
    replay_offset_ms: int | None = None

    def __init__(
        self,
        url: str,
        *,
        options: SourceOptions | None = None,
        clock: Callable[[], int] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        parse_uri(url)  # fail fast on a bad URL: retrying it forever would only hide the mistake
        self.url = url
        self.options = options if options is not None else SourceOptions()
        self.stats = SourceStats()
        self._clock = clock if clock is not None else SystemClock().now_ms
        self._backoff = backoff if backoff is not None else Backoff()
        self._sleep = sleep if sleep is not None else asyncio.sleep
        self._last_trade_id: int | None = None
        self._last_trade_ts_ms: int | None = None

    def subscribe_messages(self) -> list[str]:
        """Text frames sent right after each connect, in order (called once per connection)."""
        return []

    @abc.abstractmethod
    def parse(self, frame: str | bytes, received_ms: int) -> list[SourceEvent]:
        """The events in one frame (often none). Raises MalformedFrame (any ValueError) for bad data,
        ReconnectRequested when the exchange asks us to go."""

    def note_exchange_error(self, message: str) -> None:
        """For `parse`: the exchange sent an error message (a refused subscription, a bad request)."""
        self.stats.exchange_errors += 1
        self.stats.last_error = message
        log.warning("exchange_error_message", source=self.name, message=message)

    async def events(self) -> AsyncGenerator[SourceEvent, None]:
        """Ticks and heartbeats, in order, across reconnects, until the caller stops iterating (or `aclose()`s
        the generator, which closes the connection)."""
        while True:
            try:
                async with connect(
                    self.url,
                    open_timeout=self.options.open_timeout_s,
                    ping_interval=self.options.ping_interval_s,
                    ping_timeout=self.options.ping_timeout_s,
                    close_timeout=self.options.close_timeout_s,
                    max_size=self.options.max_frame_bytes,
                ) as ws:
                    self.stats.connects += 1
                    connected_ms = self._clock()
                    healthy = False
                    log.info("exchange_connected", source=self.name, url=self.url)
                    for message in self.subscribe_messages():
                        await ws.send(message)
                    while True:
                        frame = await self._receive(ws)
                        received_ms = self._clock()
                        parsed = self._parse_frame(frame, received_ms)
                        if parsed is None:
                            continue
                        if not healthy and received_ms - connected_ms >= self.options.healthy_after_ms:
                            healthy = True
                            self._backoff.reset()
                        for event in parsed:
                            if self._accept(event):
                                yield event
            except (ReconnectRequested, ReceiveTimeout) as exc:
                reason = str(exc)
            except ConnectionClosed as exc:
                reason = self._closed_reason(exc)
            except (OSError, WebSocketException) as exc:  # refused, reset, DNS, TLS, handshake, open timeout
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # A bug, not the network: still keep the feed alive, but say so loudly.
                reason = f"{type(exc).__name__}: {exc}"
                log.error("exchange_source_unexpected_error", source=self.name, exc_info=True)
            await self._pause_before_reconnect(reason)

    async def _receive(self, ws: ClientConnection) -> str | bytes:
        try:
            async with asyncio.timeout(self.options.receive_timeout_s):
                return await ws.recv()
        except TimeoutError:
            raise ReceiveTimeout(
                f"receive timeout: no frame for {self.options.receive_timeout_s} s"
            ) from None

    async def _pause_before_reconnect(self, reason: str) -> None:
        self.stats.reconnects += 1
        self.stats.last_error = reason
        delay_s = self._backoff.next_delay()
        log.warning(
            "exchange_reconnect",
            source=self.name,
            reason=reason,
            attempt=self._backoff.attempt,
            delay_s=round(delay_s, 3),
        )
        await self._sleep(delay_s)

    def _parse_frame(self, frame: str | bytes, received_ms: int) -> list[SourceEvent] | None:
        """The frame's events, or None when it was malformed (counted and dropped)."""
        self.stats.messages += 1
        try:
            return self.parse(frame, received_ms)
        except ValueError as exc:  # MalformedFrame, and any ValueError a parser lets through
            self.stats.malformed += 1
            if _worth_logging(self.stats.malformed):
                log.warning(
                    "exchange_frame_malformed",
                    source=self.name,
                    error=str(exc)[:_EXCERPT_CHARS],
                    frame=_excerpt(frame),
                    malformed=self.stats.malformed,
                )
            return None

    def _closed_reason(self, exc: ConnectionClosed) -> str:
        if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
            # websockets refused a frame over max_frame_bytes; the connection cannot skip it, so it goes.
            self.stats.malformed += 1
            return f"frame larger than {self.options.max_frame_bytes} bytes"
        return f"connection closed: {exc}"

    def _accept(self, event: SourceEvent) -> bool:
        """Count the event; drop a trade that is a repeat or older than the last one yielded."""
        if isinstance(event, Heartbeat):
            self.stats.heartbeats += 1
            return True
        if not self._in_order(event):
            self.stats.duplicates_or_out_of_order += 1
            return False
        self.stats.ticks += 1
        return True

    def _in_order(self, tick: Tick) -> bool:
        last_id, last_ts_ms = self._last_trade_id, self._last_trade_ts_ms
        if tick.trade_id is not None:
            if last_id is not None and tick.trade_id <= last_id:
                return False
            if last_id is not None and tick.trade_id > last_id + 1:
                self.stats.trade_id_gaps += 1
                missed = tick.trade_id - last_id - 1
                log.info("exchange_trade_gap", source=self.name, after_trade_id=last_id, missed=missed)
            self._last_trade_id = tick.trade_id
        elif last_ts_ms is not None and tick.ts_ms < last_ts_ms:
            # Without ids, equal times are distinct trades (many share a millisecond); only older is stale.
            return False
        self._last_trade_ts_ms = tick.ts_ms if last_ts_ms is None else max(last_ts_ms, tick.ts_ms)
        return True
