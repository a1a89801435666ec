"""The feed loop against real Redis, driven by a scripted source on a manual clock: what it publishes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import redis

from taptrade import bus
from taptrade.bus import connect_async
from taptrade.clock import ManualClock
from taptrade.config import Settings
from taptrade.feed.events import Heartbeat, SourceEvent, Tick
from taptrade.feed.service import FeedService
from taptrade.market import bar_decoder, price_decoder, quotes_decoder, status_decoder
from tests.support import RedisServer

T0 = 1_763_700_000_000
PRICE = 6_000_000


class Scripted:
    name = "simulated"
    replay_offset_ms: int | None = None
    measures_skew = False

    def __init__(self, events: list[SourceEvent]) -> None:
        self._events = events

    async def events(self) -> AsyncIterator[SourceEvent]:
        for event in self._events:
            yield event


def ticks(clock_start: int, seconds: int, every_ms: int = 250) -> list[SourceEvent]:
    return [Tick(PRICE + n, clock_start + n * every_ms, clock_start + n * every_ms, n)
            for n in range(seconds * 1000 // every_ms)]  # fmt: skip


async def drive(service: FeedService, clock: ManualClock, events: list[SourceEvent]) -> None:
    """Feed each event at its own time, with housekeeping in between, as the live loop would."""
    for event in events:
        clock.set(event.received_ms)
        await service.on_event(event)
        await service.housekeeping()


def read(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.resolved_redis_url())


async def test_ticks_bars_status_and_quotes_are_published(settings: Settings, tmp_path: Path) -> None:
    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted([]), client, clock)
    await service.housekeeping()
    r = read(settings)
    assert status_decoder.decode(r.get(bus.FEED_STATUS_KEY)).price_feed == "critical"

    await drive(service, clock, ticks(T0, 31))
    status = status_decoder.decode(r.get(bus.FEED_STATUS_KEY))
    assert (status.price_feed, status.betting, status.source, status.mode) == (
        "healthy",
        "open",
        "simulated",
        "auto",
    )
    price = price_decoder.decode(r.get(bus.PRICE_KEY))
    assert price.price == PRICE + 123
    bars = [bar_decoder.decode(fields[b"m"]) for _, fields in r.xrange(bus.BARS_STREAM)]
    assert [b.second for b in bars] == list(range(T0 // 1000, T0 // 1000 + 30))
    assert (bars[0].open, bars[0].close, bars[0].count, bars[0].first_trade_id) == (PRICE, PRICE + 3, 4, 0)
    table = quotes_decoder.decode(r.get(bus.QUOTES_KEY))
    assert table.first_column == clock.now_ms() // 5000 + settings.placeable_min_offset
    offered = [m for row in table.multipliers_e4 for m in row if m is not None]
    assert offered
    assert all(settings.multiplier_min_e4 <= m <= settings.multiplier_max_e4 for m in offered)
    await client.aclose()


async def test_silence_opens_the_breaker_and_the_operator_can_override(settings: Settings) -> None:
    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted([]), client, clock)
    await drive(service, clock, ticks(T0, 31))
    r = read(settings)
    clock.advance(10_001)
    await service.housekeeping()
    status = status_decoder.decode(r.get(bus.FEED_STATUS_KEY))
    assert (status.price_feed, status.betting) == ("critical", "suspended")
    r.set(bus.BREAKER_OVERRIDE_KEY, "forced_closed")
    clock.advance(1_000)
    await service.housekeeping()
    status = status_decoder.decode(r.get(bus.FEED_STATUS_KEY))
    assert (status.price_feed, status.betting, status.mode) == ("critical", "open", "forced_closed")
    await client.aclose()


async def test_the_first_tick_after_a_silence_goes_out_behind_the_open_breaker(settings: Settings) -> None:
    """A feed stopped (SIGSTOP) runs no housekeeping: when it wakes, the status that suspends betting must
    reach the gateways before the fresh price and quotes, or they take bets under the old status."""
    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted([]), client, clock)
    await drive(service, clock, ticks(T0, 31))
    listener = read(settings).pubsub()
    listener.subscribe(bus.FEED_STATUS_CHANNEL, bus.PRICE_CHANNEL, bus.QUOTES_CHANNEL)
    while listener.get_message(timeout=1.0) is not None:  # the subscriptions' confirmations
        pass
    clock.advance(12_000)  # silent, and nothing ran meanwhile
    await service.on_event(Tick(PRICE + 5_000, clock.now_ms(), clock.now_ms(), 9_999))
    heard = []
    while (message := listener.get_message(timeout=1.0)) is not None:
        heard.append((message["channel"].decode(), message["data"]))
    channels = [channel for channel, _ in heard]
    assert channels[:2] == [bus.FEED_STATUS_CHANNEL, bus.PRICE_CHANNEL], channels
    status = status_decoder.decode(heard[0][1])
    assert (status.price_feed, status.betting) == ("critical", "suspended")
    listener.close()
    await client.aclose()


async def test_heartbeats_make_count_0_bars_and_keep_the_feed_heard(settings: Settings) -> None:
    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted([]), client, clock)
    events: list[SourceEvent] = [
        Tick(PRICE, T0, T0, 1),
        Heartbeat(T0 + 1000, T0 + 1000),
        Heartbeat(T0 + 2000, T0 + 2000),
    ]
    await drive(service, clock, events)
    bars = [bar_decoder.decode(f[b"m"]) for _, f in read(settings).xrange(bus.BARS_STREAM)]
    assert [(b.second, b.count, b.close) for b in bars] == [
        (T0 // 1000, 1, PRICE),
        (T0 // 1000 + 1, 0, PRICE),
    ]
    await client.aclose()


async def test_the_live_loop_runs_a_source_until_stopped(settings: Settings) -> None:
    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted(ticks(T0, 2)), client, clock)
    stop = asyncio.Event()
    runner = asyncio.create_task(service.run(stop))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if service.ticks == 8:
            break
    stop.set()
    await runner
    assert service.ticks == 8
    assert msgspec.json.decode(read(settings).get(bus.PRICE_KEY))["price"] == PRICE + 7
    await client.aclose()


async def test_health_metrics_follow_the_breaker(settings: Settings) -> None:
    from prometheus_client import REGISTRY

    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted([]), client, clock)
    await drive(service, clock, ticks(T0, 31))
    assert REGISTRY.get_sample_value("circuit_breaker_state") == 0
    clock.advance(12_000)
    await service.housekeeping()
    assert REGISTRY.get_sample_value("circuit_breaker_state") == 1
    staleness = REGISTRY.get_sample_value("price_feed_staleness_seconds")
    assert staleness is not None
    assert 12.0 <= staleness <= 12.5
    await client.aclose()


async def test_every_quote_table_is_kept_and_can_be_found_by_id(settings: Settings) -> None:
    from taptrade.feed.quote_log import find_table

    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted([]), client, clock)
    await drive(service, clock, ticks(T0, 3))
    published = quotes_decoder.decode(read(settings).get(bus.QUOTES_KEY))
    service.quote_log.close()
    found = find_table(settings.data_dir / "quotes", published.quote_id, published.ts_ms)
    assert found == published
    await client.aclose()


async def test_bars_record_whether_betting_was_suspended_so_resolution_can_void(settings: Settings) -> None:
    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted([]), client, clock)
    r = read(settings)

    def health_by_second() -> dict[int, str]:
        return {
            bar.second: bar.health
            for bar in (bar_decoder.decode(f[b"m"]) for _, f in r.xrange(bus.BARS_STREAM))
        }

    # Warming up: 30 s of fresh ticks before betting opens; every bar of that time says critical.
    await drive(service, clock, ticks(T0, 31))
    warm = health_by_second()
    assert set(warm.values()) == {"critical"}
    await drive(service, clock, ticks(T0 + 31_000, 5))
    fresh = {s: h for s, h in health_by_second().items() if s not in warm}
    assert set(fresh.values()) == {"healthy"}
    # The operator suspends betting: the bars say critical again, and the columns will be void.
    r.set(bus.BREAKER_OVERRIDE_KEY, "forced_open")
    clock.advance(1_100)
    await service.housekeeping()
    seen = set(health_by_second())
    await drive(service, clock, ticks(clock.now_ms(), 3))
    suspended = {s: h for s, h in health_by_second().items() if s not in seen}
    assert suspended
    assert set(suspended.values()) == {"critical"}
    await client.aclose()


async def test_redis_lost_and_back_the_feed_carries_on_and_writes_the_bars_it_held(
    settings: Settings, redis_server: RedisServer
) -> None:
    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    service = FeedService(settings, Scripted([]), client, clock)
    events = ticks(T0, 12)
    await drive(service, clock, events[:16])  # 4 s of ticks while Redis is there
    redis_server.kill()
    await drive(service, clock, events[16:32])  # 4 s more with Redis gone: nothing raises, bars are kept
    redis_server.start()
    await drive(service, clock, events[32:])
    bars = [bar_decoder.decode(f[b"m"]) for _, f in read(settings).xrange(bus.BARS_STREAM)]
    seconds = [b.second for b in bars]
    # Redis restarted without the first seconds' writes (its append-only file is off in the tests); the
    # seconds closed while it was gone came after it returned, in order, none missing.
    assert seconds == list(range(seconds[0], T0 // 1000 + 11))
    assert seconds[0] <= T0 // 1000 + 4
    await client.aclose()


async def test_the_breaker_recovery_time_is_the_setting(settings: Settings) -> None:
    clock = ManualClock(T0)
    client = connect_async(settings.resolved_redis_url())
    quick = settings.model_copy(update={"feed_recovery_ms": 5_000})
    service = FeedService(quick, Scripted([]), client, clock)
    await drive(service, clock, ticks(T0, 4))
    assert status_decoder.decode(read(settings).get(bus.FEED_STATUS_KEY)).betting == "suspended"
    await drive(service, clock, ticks(T0 + 4_000, 2))
    assert status_decoder.decode(read(settings).get(bus.FEED_STATUS_KEY)).betting == "open"  # after 5 s
    await client.aclose()
