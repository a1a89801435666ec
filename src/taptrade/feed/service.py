"""The feed loop: source events -> ticks, 1 s bars, health and breaker state, quote tables -> Redis.

Every tick is published (key and channel: gateways coalesce for their clients); closed bars go to a stream
the ledger persists; the status is published on every change and every 5 s; a quote table a few times a
second and at once when the price has moved half a row since the last table. Everything runs on one event
loop with an injected clock, so tests can drive a source and read what was published.

Redis going away does not stop the feed: ticks, status and quotes are simply not published meanwhile (they
are superseded by the next ones anyway), while closed bars — the record columns are resolved from — wait
in order, up to `BAR_BACKLOG_MAX`, and are written as soon as Redis answers again. Restarting instead
would close betting for the breaker's 30 s of recovery after every Redis blip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal, Protocol

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from taptrade import bus
from taptrade.clock import Clock
from taptrade.config import Settings, grid_spec
from taptrade.feed.bars import BarBuilder
from taptrade.feed.breaker import Breaker, BreakerState, Health, Mode
from taptrade.feed.events import SourceEvent, Tick
from taptrade.feed.metrics import CIRCUIT_BREAKER_STATE, PRICE_FEED_STALENESS_SECONDS
from taptrade.feed.quote_log import QuoteLog
from taptrade.market import Bar, FeedStatus, PriceTick, QuoteTable
from taptrade.obs.logging import get_logger
from taptrade.pricing.model import MarketState, load_model
from taptrade.pricing.quotes import quote_grid
from taptrade.pricing.volatility import EwmaVolatility

log = get_logger(__name__)

STATUS_EVERY_MS = 5_000
OVERRIDE_READ_EVERY_MS = 1_000
HOUSEKEEPING_S = 0.1
BAR_BACKLOG_MAX = 3_600  # an hour of bars kept while Redis is unreachable
REDIS_ERRORS = (RedisError, OSError)
_encoder = msgspec.json.Encoder()


class Source(Protocol):
    """What the service needs of a price source."""

    name: str
    replay_offset_ms: int | None
    measures_skew: bool  # whether exchange time vs receive time is meaningful (not for recordings)

    def events(self) -> AsyncIterator[SourceEvent]: ...


class FeedService:
    def __init__(self, settings: Settings, source: Source, redis: aioredis.Redis, clock: Clock) -> None:
        self._settings = settings
        self._grid = grid_spec(settings)
        self._source = source
        self._redis = redis
        self._clock = clock
        now_ms = clock.now_ms()
        self.breaker = Breaker(now_ms, recovery_ms=settings.feed_recovery_ms)
        self.bars = BarBuilder()
        self._model = load_model(settings.quote_model)
        self._volatility: EwmaVolatility | None = None
        self.last_tick: PriceTick | None = None
        self._skew_ms = 0
        # The latest exchange-clock times betting was seen suspended, and the feed seen less than healthy:
        # a bar is marked by the worst seen during its second, not only at its close.
        self._suspended_at_ms = now_ms
        self._unhealthy_at_ms = now_ms
        self._quoted_price: int | None = None
        self._last_quote_ms = 0
        self._quote_id = 0
        self._published_state: BreakerState | None = None
        self._last_status_ms = 0
        self._last_override_ms = -OVERRIDE_READ_EVERY_MS
        self.ticks = 0
        self.bars_published = 0
        self._bar_backlog: list[bytes] = []  # encoded closed bars not yet written to the stream
        self._redis_lost_since_ms: int | None = None
        self.quote_log = QuoteLog(settings.data_dir / "quotes")

    async def run(self, stop: asyncio.Event) -> None:
        consumer = asyncio.create_task(self._consume(), name="feed-consume")
        try:
            while not stop.is_set():
                await self.housekeeping()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), HOUSEKEEPING_S)
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            self.quote_log.close()

    async def _consume(self) -> None:
        async for event in self._source.events():
            await self.on_event(event)

    def _redis_lost(self, exc: BaseException) -> None:
        now_ms = self._clock.now_ms()
        if self._redis_lost_since_ms is None:
            self._redis_lost_since_ms = now_ms
            log.warning("feed_redis_unavailable", error=str(exc), bars_waiting=len(self._bar_backlog))

    def _redis_back(self) -> None:
        if self._redis_lost_since_ms is not None:
            log.info(
                "feed_redis_back",
                after_ms=self._clock.now_ms() - self._redis_lost_since_ms,
                bars_written=self.bars_published,
            )
            self._redis_lost_since_ms = None

    async def on_event(self, event: SourceEvent) -> None:
        try:
            await self._on_event(event)
        except REDIS_ERRORS as exc:
            self._redis_lost(exc)

    async def housekeeping(self) -> None:
        try:
            await self._housekeeping()
        except REDIS_ERRORS as exc:
            self._redis_lost(exc)

    async def _on_event(self, event: SourceEvent) -> None:
        now_ms = self._clock.now_ms()
        pipe = self._redis.pipeline(transaction=False)
        status_sent: BreakerState | None = None
        if isinstance(event, Tick):
            self._skew_ms = now_ms - event.ts_ms if self._source.measures_skew else 0
            self.breaker.on_tick(now_ms, self._skew_ms)
            state = self.breaker.evaluate(now_ms)
            if state != self._published_state:
                # The first tick after a silence finds the breaker open: that goes out before the tick, or
                # a gateway would see a fresh price and quotes under the status it had before the silence
                # (betting open) and take bets until the housekeeping published the change.
                self._note_state(state, now_ms)
                self._status_into(pipe, state)
                status_sent = state
            tick = PriceTick(event.price_cents, event.ts_ms, self._source.name, self._source.replay_offset_ms)
            data = _encoder.encode(tick)
            pipe.set(bus.PRICE_KEY, data)
            pipe.publish(bus.PRICE_CHANNEL, data)
            self.last_tick = tick
            self.ticks += 1
        for bar in self.bars.on_event(event):
            self._add_bar(bar)
        self._write_bars(pipe)
        await self._execute(pipe)
        if status_sent is not None:
            self._published_state, self._last_status_ms = status_sent, now_ms
        if isinstance(event, Tick) and self._moved_half_a_row(event.price_cents):
            await self.publish_quotes(now_ms)

    async def _housekeeping(self) -> None:
        now_ms = self._clock.now_ms()
        if now_ms - self._last_override_ms >= OVERRIDE_READ_EVERY_MS:
            self._last_override_ms = now_ms
            await self._read_override(now_ms)
        state = self.breaker.evaluate(now_ms)
        self._note_state(state, now_ms)
        last_tick_ms = self.breaker.last_tick_ms
        PRICE_FEED_STALENESS_SECONDS.set(
            float("inf") if last_tick_ms is None else (now_ms - last_tick_ms) / 1000
        )
        CIRCUIT_BREAKER_STATE.set(0 if state.betting_open else 1)
        self.quote_log.flush()
        if state != self._published_state or now_ms - self._last_status_ms >= STATUS_EVERY_MS:
            await self._publish_status(state, now_ms)
        for bar in self.bars.on_clock(now_ms - self._skew_ms):
            self._add_bar(bar)
        if self._bar_backlog:
            pipe = self._redis.pipeline(transaction=False)
            self._write_bars(pipe)
            await self._execute(pipe)
        if now_ms - self._last_quote_ms >= self._settings.quote_interval_ms:
            await self.publish_quotes(now_ms)

    def _add_bar(self, bar: Bar) -> None:
        """A closed bar joins the backlog, which the next write to Redis empties."""
        bar = msgspec.structs.replace(bar, health=self._bar_health(bar))
        self._bar_backlog.append(_encoder.encode(bar))
        if len(self._bar_backlog) > BAR_BACKLOG_MAX:
            del self._bar_backlog[0]
            log.error("feed_bar_dropped", reason="Redis unreachable too long", backlog=BAR_BACKLOG_MAX)
        if self._volatility is None:
            self._volatility = EwmaVolatility(bar.close)
        self._volatility.update(bar.close)

    def _write_bars(self, pipe: aioredis.client.Pipeline) -> None:
        for data in self._bar_backlog:
            pipe.xadd(bus.BARS_STREAM, {"m": data}, maxlen=bus.BARS_STREAM_MAX_LEN, approximate=True)

    async def _execute(self, pipe: aioredis.client.Pipeline) -> None:
        """Run a pipeline that carries the bar backlog: once it went through, the backlog is written."""
        written = len(self._bar_backlog)
        await pipe.execute()
        del self._bar_backlog[:written]
        self.bars_published += written
        self._redis_back()

    def _moved_half_a_row(self, price_cents: int) -> bool:
        quoted = self._quoted_price
        return quoted is None or abs(price_cents - quoted) * 2 >= self._settings.row_cents

    async def publish_quotes(self, now_ms: int) -> None:
        tick = self.last_tick
        if tick is None:
            return
        if self._volatility is None:
            self._volatility = EwmaVolatility(tick.price)
        state = MarketState(
            price_cents=tick.price,
            # The exchange's clock now, not the last tick's time: sparse ticks must not price columns as
            # further away than they are.
            now_ms=max(tick.ts_ms, now_ms - self._skew_ms),
            sigma_cents_per_sqrt_s=self._volatility.sigma_cents_per_sqrt_s(),
        )
        first_column, first_row, multipliers = quote_grid(
            self._model,
            state,
            self._grid,
            placeable_min_offset=self._settings.placeable_min_offset,
            max_ahead_columns=self._settings.max_ahead_columns,
            rows_each_side=self._settings.quote_rows_each_side,
            min_e4=self._settings.multiplier_min_e4,
            max_e4=self._settings.multiplier_max_e4,
        )
        self._quote_id = max(self._quote_id + 1, now_ms)
        table = QuoteTable(self._quote_id, now_ms, tick.price, first_column, first_row, multipliers)
        data = _encoder.encode(table)
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(bus.QUOTES_KEY, data)
        pipe.publish(bus.QUOTES_CHANNEL, data)
        await pipe.execute()
        self.quote_log.append(table)
        self._quoted_price = tick.price
        self._last_quote_ms = now_ms
        log.debug(
            "quotes_published", quote_id=self._quote_id, price=tick.price, sigma=state.sigma_cents_per_sqrt_s
        )

    def _note_state(self, state: BreakerState, now_ms: int) -> None:
        exchange_ms = now_ms - self._skew_ms
        if not state.betting_open:
            self._suspended_at_ms = exchange_ms
        if state.health is not Health.HEALTHY:
            self._unhealthy_at_ms = exchange_ms

    def _bar_health(self, bar: Bar) -> Literal["healthy", "degraded", "critical"]:
        """What a closing bar records of the breaker (DESIGN §6: a column during which it was CRITICAL is
        void). Betting suspended at any moment of the bar's second, by the feed's health or by the
        operator, marks it critical; an operator holding betting open takes the prices as they are, so
        then it is at worst degraded."""
        start_ms = bar.second * 1000
        if self._suspended_at_ms >= start_ms:
            return "critical"
        return "degraded" if self._unhealthy_at_ms >= start_ms else "healthy"

    async def _read_override(self, now_ms: int) -> None:
        raw = await self._redis.get(bus.BREAKER_OVERRIDE_KEY)
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            mode = Mode(text) if text else Mode.AUTO
        except ValueError:
            log.error("breaker_override_invalid", value=raw)
            return
        if mode is not self.breaker.mode:
            log.warning("breaker_override", mode=mode.value)
            self.breaker.set_mode(mode, now_ms)

    async def _publish_status(self, state: BreakerState, now_ms: int) -> None:
        pipe = self._redis.pipeline(transaction=False)
        self._status_into(pipe, state)
        await pipe.execute()
        self._published_state = state
        self._last_status_ms = now_ms

    def _status_into(self, pipe: aioredis.client.Pipeline, state: BreakerState) -> None:
        """The status's key and message, queued on `pipe` (logged when it changed)."""
        if state != self._published_state:
            log.info(
                "feed_status",
                health=state.health.value,
                betting="open" if state.betting_open else "suspended",
                mode=state.mode.value,
                last_tick_ms=self.breaker.last_tick_ms,
            )
        status = FeedStatus(
            price_feed=state.health.value,
            betting="open" if state.betting_open else "suspended",
            since_ms=state.since_ms,
            source=self._source.name,
            mode=state.mode.value,
        )
        data = _encoder.encode(status)
        pipe.set(bus.FEED_STATUS_KEY, data)
        pipe.publish(bus.FEED_STATUS_CHANNEL, data)
