"""Coinbase Exchange WebSocket feed: `matches` as ticks, the `heartbeat` channel as heartbeats.

The server drops a connection that has not subscribed within 5 s, so the subscribe message goes out as
soon as the connection opens. Messages:

- `match`, and the `last_match` sent right after subscribing → Tick(price, time, trade_id). After a
  reconnect `last_match` repeats the last trade already seen; the base loop drops it as a duplicate.
- `heartbeat` (every second per product) → Heartbeat(time).
- `subscriptions` (the ack) → logged; `error` → logged and counted.
- `ticker` is ignored: it is not subscribed to, and it repeats each match, so counting it too would only
  duplicate what `matches` already says. Other types and other products are ignored, as the docs ask.

Times are ISO 8601 UTC with microseconds; they become Unix ms by integer arithmetic, truncating (a trade
at .999999 belongs to the millisecond, and the second, it happened in).
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from taptrade.feed.backoff import Backoff
from taptrade.feed.events import Heartbeat, SourceEvent, Tick
from taptrade.feed.exchanges.base import (
    ExchangeSource,
    JsonObject,
    MalformedFrame,
    SourceOptions,
    field_int,
    field_price_cents,
    field_str,
    load_object,
)
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

COINBASE_EXCHANGE_WS = "wss://ws-feed.exchange.coinbase.com"
CHANNELS = ("matches", "heartbeat")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_UTC = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:Z|\+00:00)"
)


def iso_to_ms(text: str) -> int:
    """ "2021-04-17T16:43:37.056746Z" -> 1618677817056 (Unix ms, truncated). MalformedFrame otherwise."""
    match = _ISO_UTC.fullmatch(text)
    if match is None:
        raise MalformedFrame(f"not an ISO 8601 UTC time: {text[:40]!r}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        whole = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise MalformedFrame(f"not a valid time: {text[:40]!r} ({exc})") from None
    seconds = (whole - _EPOCH) // timedelta(seconds=1)
    millis = int((match.group(7) or "").ljust(3, "0")[:3])
    return seconds * 1000 + millis


class CoinbaseSource(ExchangeSource):
    name = "coinbase"

    def __init__(
        self,
        product: str = "BTC-USD",
        url: str = COINBASE_EXCHANGE_WS,
        *,
        options: SourceOptions | None = None,
        clock: Callable[[], int] | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__(url, options=options, clock=clock, backoff=backoff, sleep=sleep)
        self.product = product
        self.subscribed = False  # the server acknowledged our channels for the product (last connection)

    def subscribe_messages(self) -> list[str]:
        self.subscribed = False  # a new connection: nothing acknowledged on it yet
        return [json.dumps({"type": "subscribe", "product_ids": [self.product], "channels": list(CHANNELS)})]

    def parse(self, frame: str | bytes, received_ms: int) -> list[SourceEvent]:
        message = load_object(frame)
        kind = field_str(message, "type")
        if kind in ("match", "last_match", "heartbeat") and field_str(message, "product_id") != self.product:
            return []
        if kind in ("match", "last_match"):
            return [
                Tick(
                    price_cents=field_price_cents(message, "price"),
                    ts_ms=iso_to_ms(field_str(message, "time")),
                    received_ms=received_ms,
                    trade_id=field_int(message, "trade_id"),
                )
            ]
        if kind == "heartbeat":
            return [Heartbeat(ts_ms=iso_to_ms(field_str(message, "time")), received_ms=received_ms)]
        if kind == "subscriptions":
            self._note_ack(message)
        elif kind == "error":
            reason = message.get("reason")
            self.note_exchange_error(
                f"coinbase error: {str(message.get('message'))[:200]}"
                + (f" ({str(reason)[:200]})" if reason is not None else "")
            )
        return []

    def _note_ack(self, message: JsonObject) -> None:
        channels = message.get("channels")
        if not isinstance(channels, list):
            raise MalformedFrame("subscriptions ack without a channel list")
        granted = {
            str(channel.get("name"))
            for channel in channels
            if isinstance(channel, dict)
            and isinstance(products := channel.get("product_ids"), list)
            and self.product in products
        }
        missing = sorted(set(CHANNELS) - granted)
        if missing:
            # An ack can cover only part of what was asked (the server acks each subscribe separately).
            log.info("coinbase_subscriptions_partial", product=self.product, missing=missing)
            return
        self.subscribed = True
        log.info("coinbase_subscribed", product=self.product, channels=sorted(granted))
