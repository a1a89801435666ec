"""The simulated market and the replay of recorded trades, on a manual clock."""

from __future__ import annotations

import gzip
import itertools
import math
import statistics
from pathlib import Path

import pytest

from taptrade.clock import ManualClock
from taptrade.config import Settings
from taptrade.feed.app import make_source
from taptrade.feed.events import Heartbeat, SourceEvent, Tick
from taptrade.feed.replay import ReplaySource, column_offset_ms, read_trades, with_heartbeats
from taptrade.feed.simulated import MS_PER_YEAR, SimulatedSource

T0 = 1_763_700_001_234


def fake_sleep(clock: ManualClock):  # type: ignore[no-untyped-def]
    async def sleep(seconds: float) -> None:
        clock.advance(max(0, math.ceil(seconds * 1000)))

    return sleep


async def take(source: SimulatedSource | ReplaySource, n: int) -> list[SourceEvent]:
    events: list[SourceEvent] = []
    async for event in source.events():
        events.append(event)
        if len(events) == n:
            break
    return events


async def test_the_simulation_is_reproducible_from_its_seed() -> None:
    runs = []
    for _ in range(2):
        clock = ManualClock(T0)
        runs.append(await take(SimulatedSource(seed=7, clock=clock, sleep=fake_sleep(clock)), 50))
    assert runs[0] == runs[1]
    clock = ManualClock(T0)
    assert await take(SimulatedSource(seed=8, clock=clock, sleep=fake_sleep(clock)), 50) != runs[0]


async def test_the_simulation_ticks_about_ten_times_a_second_with_btc_like_volatility() -> None:
    clock = ManualClock(T0)
    events = await take(SimulatedSource(seed=1, clock=clock, sleep=fake_sleep(clock)), 20_000)
    ticks = [e for e in events if isinstance(e, Tick)]
    seconds = (ticks[-1].ts_ms - ticks[0].ts_ms) / 1000
    assert 9.0 < len(ticks) / seconds < 11.0
    returns = [math.log(b.price_cents / a.price_cents) for a, b in itertools.pairwise(ticks)]
    annual = statistics.pstdev(returns) * math.sqrt(len(returns) / seconds * MS_PER_YEAR / 1000)
    assert 0.4 < annual < 0.6
    assert all(t.price_cents > 0 for t in ticks)


async def test_the_steady_simulation_ticks_every_100_ms_on_the_clock() -> None:
    clock = ManualClock(T0)
    late = {3}  # one wake-up 40 ms late must not shift the ticks after it

    def sleep_late_once():  # type: ignore[no-untyped-def]
        calls = itertools.count()

        async def sleep(seconds: float) -> None:
            clock.advance(max(0, math.ceil(seconds * 1000)) + (40 if next(calls) in late else 0))

        return sleep

    source = SimulatedSource(seed=1, steady=True, clock=clock, sleep=sleep_late_once())
    ticks = [e for e in await take(source, 10) if isinstance(e, Tick)]
    assert [t.ts_ms - T0 for t in ticks] == [100, 200, 300, 440, 500, 600, 700, 800, 900, 1000]
    assert len({t.price_cents for t in ticks}) > 1


def test_the_source_spec_picks_poisson_or_steady_simulation() -> None:
    settings = Settings(feed_seed=5)
    poisson, steady = make_source("simulated", settings), make_source("simulated:steady", settings)
    assert isinstance(poisson, SimulatedSource)
    assert isinstance(steady, SimulatedSource)
    assert (poisson.steady, steady.steady, steady.seed) == (False, True, 5)
    with pytest.raises(ValueError, match="simulated:steady"):
        make_source("simulated:fast", settings)


def test_replay_offset_is_whole_columns_and_starts_the_recording_at_the_next_column() -> None:
    first = 1_723_161_601_437
    now = 1_763_700_002_345
    offset = column_offset_ms(first, now, 5000)
    assert offset % 5000 == 0
    assert (first + offset) // 5000 == now // 5000 + 1
    assert (first + offset) % 5000 == first % 5000  # boundaries fall where they fell


def write_csv(tmp_path: Path, rows: list[str], gz: bool) -> Path:
    text = "trade_time_ms,price,qty,trade_id\n" + "\n".join(rows) + "\n"
    path = tmp_path / ("t.csv.gz" if gz else "t.csv")
    path.write_bytes(gzip.compress(text.encode()) if gz else text.encode())
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_recordings_are_read_plain_or_gzipped_and_bad_rows_skipped(tmp_path: Path, gz: bool) -> None:
    path = write_csv(tmp_path, ["1000,100.5,1,7", "garbage", "2500,100.25,1,8", "3000,-1,1,9"], gz)
    trades = read_trades(path)
    assert [(t.ts_ms, t.price_cents, t.trade_id) for t in trades] == [(1000, 10050, 7), (2500, 10025, 8)]


def test_quiet_recorded_seconds_become_heartbeats(tmp_path: Path) -> None:
    trades = read_trades(write_csv(tmp_path, ["1000,1,1,1", "1500,1,1,2", "4200,1,1,3"], False))
    out = [x if isinstance(x, int) else x.ts_ms for x in with_heartbeats(trades)]
    assert out == [1000, 1500, 2000, 3000, 4200]


async def test_replay_serves_shifted_times_and_says_by_how_much(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["1723161601437,61685.99,1,10", "1723161603100,61686.00,1,11"], False)
    clock = ManualClock(T0)
    source = ReplaySource(path, clock=clock, sleep=fake_sleep(clock))
    events = await take(source, 3)
    offset = source.replay_offset_ms
    assert offset is not None
    assert offset % 5000 == 0
    first, heartbeat, second = events
    assert isinstance(first, Tick)
    assert (first.ts_ms - offset, first.price_cents, first.trade_id) == (1723161601437, 6168599, 10)
    assert isinstance(heartbeat, Heartbeat)
    assert heartbeat.ts_ms - offset == 1723161602000
    assert isinstance(second, Tick)
    assert second.ts_ms - offset == 1723161603100
    assert clock.now_ms() >= second.ts_ms  # played in real time: served no earlier than due


async def test_replay_faster_than_real_time(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["1723161601437,1,1,1", "1723161611437,2,1,2"], False)
    clock = ManualClock(T0)
    source = ReplaySource(path, speed=10, clock=clock, sleep=fake_sleep(clock))
    events = await take(source, 11)
    assert isinstance(events[-1], Tick)
    assert (
        clock.now_ms() - T0 < 10_000 / 10 + 5_000
    )  # ten recorded seconds in about one (after the wait for the next column)
