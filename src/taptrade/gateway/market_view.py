"""Each gateway worker's in-memory view of the market: the latest tick, quote table and feed status,
loaded from Redis at start and kept current from pub/sub. Reads on the hot path never touch Redis.

Betting is open only while the feed says so *and* the last tick is fresh by this worker's own clock: a
feed that died cannot say it is stale, so the gateway does not rely on being told.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, cast

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from taptrade import bus
from taptrade.market import (
    FeedStatus,
    PriceTick,
    QuoteTable,
    price_decoder,
    quotes_decoder,
    status_decoder,
)
from taptrade.obs.logging import get_logger
from taptrade.redis_wire import RECONNECT_BACKOFF_MAX_S

log = get_logger(__name__)


class MarketView:
    def __init__(self, redis: aioredis.Redis, *, stale_after_ms: int, quote_max_age_ms: int) -> None:
        self._redis = redis
        self._stale_after_ms = stale_after_ms
        self._quote_max_age_ms = quote_max_age_ms
        self.price: PriceTick | None = None
        self.quotes: QuoteTable | None = None
        self.status: FeedStatus | None = None
        self._task: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        # Called with the channel after each change (the WebSocket hub listens).
        self.listeners: list[Callable[[str], None]] = []

    async def start(self) -> None:
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.subscribe(bus.PRICE_CHANNEL, bus.QUOTES_CHANNEL, bus.FEED_STATUS_CHANNEL)
        await self.reload()
        self._task = asyncio.create_task(self._follow(), name="market-view")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pubsub is not None:
            await self._pubsub.aclose()

    async def reload(self) -> None:
        """Read the latest of everything from its key (at start, and after a lost subscription)."""
        values = await self._redis.mget(bus.PRICE_KEY, bus.QUOTES_KEY, bus.FEED_STATUS_KEY)
        price, quotes, status = cast(list[bytes | None], values)
        for channel, data in (
            (bus.PRICE_CHANNEL, price),
            (bus.QUOTES_CHANNEL, quotes),
            (bus.FEED_STATUS_CHANNEL, status),
        ):
            if data is not None:
                self.apply(channel, data)

    def apply(self, channel: str, data: bytes) -> None:
        try:
            if channel == bus.PRICE_CHANNEL:
                self.price = price_decoder.decode(data)
            elif channel == bus.QUOTES_CHANNEL:
                self.quotes = quotes_decoder.decode(data)
            elif channel == bus.FEED_STATUS_CHANNEL:
                self.status = status_decoder.decode(data)
        except msgspec.DecodeError as exc:
            log.error("market_message_undecodable", channel=channel, error=str(exc))
            return
        for listener in self.listeners:
            listener(channel)

    async def _follow(self) -> None:
        backoff_s = 0.05
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if backoff_s > 0.05:
                    await self.reload()  # messages may have been missed while disconnected
                backoff_s = 0.05
            except (RedisError, OSError) as exc:
                log.warning("market_subscription_lost", error=str(exc), retry_in_s=backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, RECONNECT_BACKOFF_MAX_S)
                continue
            if message is not None and message["type"] == "message":
                channel = message["channel"]
                self.apply(channel.decode() if isinstance(channel, bytes) else channel, message["data"])

    def stale_for_ms(self, now_ms: int) -> int | None:
        return None if self.price is None else max(0, now_ms - self.price.ts_ms)

    def betting_open(self, now_ms: int) -> bool:
        status, stale = self.status, self.stale_for_ms(now_ms)
        if status is None or status.betting != "open":
            return False
        if status.mode == "forced_closed":
            return True  # an operator holds the breaker closed: betting stays open whatever the feed does
        return stale is not None and stale <= self._stale_after_ms

    def quotes_fresh(self, now_ms: int) -> bool:
        """A quote table newer than the maximum age is in hand (else no cell can be priced now)."""
        table = self.quotes
        return table is not None and now_ms - table.ts_ms <= self._quote_max_age_ms

    def quote(self, column: int, row: int, now_ms: int) -> tuple[int, int] | None:
        """(multiplier_e4, quote_id) from the latest table, if it is fresh and offers the cell."""
        table = self.quotes
        if table is None or not self.quotes_fresh(now_ms):
            return None
        multiplier = table.multiplier_e4(column, row)
        return None if multiplier is None else (multiplier, table.quote_id)
