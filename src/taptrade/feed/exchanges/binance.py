"""Binance spot market streams: trades as ticks, book-ticker updates as heartbeats.

Subscriptions ride in the combined-stream URL (`/stream?streams=btcusdt@trade/btcusdt@bookTicker`), so
nothing is sent after connect; every frame is `{"stream": ..., "data": {...}}`. Raw `/ws/...` payloads
are understood too.

- `@trade` → Tick(price "p", trade time "T", trade id "t"); `@aggTrade` → Tick("p", "T", aggregate id "a").
  Subscribe to one or the other: their ids are different sequences.
- `@bookTicker` (spot: no event time) → Heartbeat stamped with the receive time corrected by the skew
  measured on the latest trade (its event time "E" minus its receive time), so heartbeats and ticks share
  the exchange's clock.
- `serverShutdown` → close and reconnect at once; control-message acks (`{"result": null, "id": 1}`) are
  ignored; error replies (`{"code": 2, "msg": ...}`) are logged and counted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from taptrade.feed.backoff import Backoff
from taptrade.feed.events import Heartbeat, SourceEvent, Tick
from taptrade.feed.exchanges.base import (
    ExchangeSource,
    JsonObject,
    MalformedFrame,
    ReconnectRequested,
    SourceOptions,
    field_int,
    field_object,
    field_price_cents,
    field_str,
    load_object,
)

BINANCE_SPOT_WS = "wss://stream.binance.com:9443"


def combined_stream_url(symbol: str, base: str = BINANCE_SPOT_WS) -> str:
    """The combined-stream URL for one symbol's trades and book ticker."""
    lower = symbol.lower()
    return f"{base}/stream?streams={lower}@trade/{lower}@bookTicker"


class BinanceSource(ExchangeSource):
    name = "binance"

    def __init__(
        self,
        symbol: str = "btcusdt",
        url: str | None = None,
        *,
        options: SourceOptions | None = None,
        clock: Callable[[], int] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(
            url if url is not None else combined_stream_url(symbol),
            options=options,
            clock=clock,
            backoff=backoff,
            sleep=sleep,
        )
        self.symbol = symbol.upper()  # payloads name it in upper case ("s": "BTCUSDT")
        self.skew_ms: int | None = None  # exchange event time minus our receive time, from the latest trade

    def parse(self, frame: str | bytes, received_ms: int) -> list[SourceEvent]:
        message = load_object(frame)
        if "stream" in message or "data" in message:
            return self._parse_payload(field_object(message, "data"), received_ms)
        if "result" in message and "id" in message:
            return []  # ack of a SUBSCRIBE/UNSUBSCRIBE control message
        if "code" in message and "msg" in message:
            code, text = message.get("code"), str(message.get("msg"))[:200]
            self.note_exchange_error(f"binance error {code!r}: {text}")
            return []
        return self._parse_payload(message, received_ms)

    def _parse_payload(self, data: JsonObject, received_ms: int) -> list[SourceEvent]:
        kind = data.get("e")
        if kind == "trade":
            return self._tick(data, "t", received_ms)
        if kind == "aggTrade":
            return self._tick(data, "a", received_ms)
        if kind == "serverShutdown":
            raise ReconnectRequested("binance announced a server shutdown")
        if kind is None and "u" in data and "b" in data and "a" in data:
            return self._book_ticker(data, received_ms)
        if kind is None:
            raise MalformedFrame("payload is neither an event nor a book ticker")
        return []  # another stream (depth, kline, ...): clients must ignore what they did not ask for

    def _tick(self, data: JsonObject, id_key: str, received_ms: int) -> list[SourceEvent]:
        if field_str(data, "s") != self.symbol:
            return []
        tick = Tick(
            price_cents=field_price_cents(data, "p"),
            ts_ms=field_int(data, "T"),
            received_ms=received_ms,
            trade_id=field_int(data, id_key),
        )
        self.skew_ms = field_int(data, "E") - received_ms
        return [tick]

    def _book_ticker(self, data: JsonObject, received_ms: int) -> list[SourceEvent]:
        if field_str(data, "s") != self.symbol:
            return []
        # Only proves the exchange is heard: the book itself is not used, so only its shape is checked.
        field_int(data, "u")
        field_str(data, "b")
        field_str(data, "a")
        skew_ms = self.skew_ms if self.skew_ms is not None else 0
        return [Heartbeat(ts_ms=received_ms + skew_ms, received_ms=received_ms)]
