"""Processes killed and Redis lost under load: nothing acknowledged is lost, nothing is debited twice, the
money adds up, and the system recovers by itself.

Each campaign runs the load generator against one `taptrade run`, delivers its faults as real signals,
and ends with the invariant check over everything the system has taken so far (`System.verdict`).
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.faults.conftest import Scale
from tests.faults.harness import Inject, System, campaign
from tests.support import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(1800)]

STALE_S = 10.0  # the gateway suspends betting when the last tick is older (TAPTRADE_FEED_STALE_AFTER_MS)
COLUMN_MS = 5000
REDIS_HUNG_S = 8.0
REDIS_WAIT_MAX_S = 4.5  # a free connection (2 s), the command (2 s), and a margin


def kills(
    role: str, runs: int, *, gap_s: tuple[float, float], count: int = 1, settle_s: float = 0.0
) -> Inject:
    """`runs` times: wait a random moment, SIGKILL one `role` process, wait until `count` run again (the
    launcher or the gateway's supervisor restarts it), and `settle_s` more."""

    def inject(system: System, rng: random.Random) -> list[float]:
        moments = []
        for _ in range(runs):
            time.sleep(rng.uniform(*gap_s))
            pid = system.kill(role)
            moments.append(time.time())
            system.wait_replaced(role, pid, count=count)
            time.sleep(settle_s)
        return moments

    return inject


def test_ledger_kill_9_at_random_moments(system: System, scale: Scale) -> None:
    record, _ = campaign(
        system, scale, "ledger killed (SIGKILL)", "`kill -9` at a random moment, restarted by `taptrade run`",
        scale.ledger_kills, scale.ledger_kills * 2.5 + 5,
        kills("ledger", scale.ledger_kills, gap_s=(0.3, 1.5)),
    )  # fmt: skip
    assert len(record.confirmed) > 0


@pytest.mark.long_fault
def test_gateway_worker_kill_9(system: System, scale: Scale) -> None:
    campaign(
        system, scale, "gateway worker killed (SIGKILL)",
        "`kill -9` of one of the two workers, restarted by the gateway's supervisor",
        scale.worker_kills, scale.worker_kills * 3 + 5,
        kills("gateway-worker", scale.worker_kills, gap_s=(0.5, 1.5), count=2),
    )  # fmt: skip


@pytest.mark.long_fault
def test_redis_kill_9_and_restart_from_its_append_only_file(system: System, scale: Scale) -> None:
    untouched = {role: system.pids(role) for role in ("ledger", "feed", "gateway-worker")}
    campaign(
        system, scale, "Redis killed (SIGKILL), restarted from its append-only file",
        "`kill -9` of redis-server; `taptrade run` restarts it and it replays its AOF",
        scale.redis_restarts, scale.redis_restarts * 4.5 + 6,
        kills("redis", scale.redis_restarts, gap_s=(0.5, 1.5), settle_s=2.0),
    )  # fmt: skip
    assert {role: system.pids(role) for role in untouched} == untouched  # ours reconnected, none restarted


@pytest.mark.long_fault
def test_redis_down_for_10_s_is_503_with_retry_after_then_recovers(system: System, scale: Scale) -> None:
    untouched = {role: system.pids(role) for role in ("ledger", "feed", "gateway-worker")}
    outages: list[tuple[float, float]] = []

    def inject(system: System, rng: random.Random) -> list[float]:
        assert system.proc is not None
        moments = []
        for _ in range(scale.redis_outages):
            time.sleep(rng.uniform(0.5, 1.0))
            # The launcher would restart Redis at once: hold it while Redis stays down.
            os.kill(system.proc.pid, signal.SIGSTOP)
            try:
                pid = system.kill("redis")
                down = time.time()
                time.sleep(10.0)
            finally:
                os.kill(system.proc.pid, signal.SIGCONT)
            up = time.time()
            outages.append((down, up))
            system.wait_replaced("redis", pid)
            moments.append(up)
            time.sleep(5.0)
        return moments

    record, _ = campaign(
        system, scale, "Redis down for 10 s",
        "redis-server killed while `taptrade run` is stopped (SIGSTOP), so nothing restarts it for 10 s; "
        "recovery counted from Redis's return",
        scale.redis_outages, scale.redis_outages * 17 + 5, inject,
    )  # fmt: skip
    assert {role: system.pids(role) for role in untouched} == untouched  # recovered without restarts
    for down, up in outages:
        during = [status for due, _, status in record.bets if down + 1 <= due <= up - 1]
        assert during, "no bet was sent while Redis was down"
        assert set(during) <= {503, 0}, sorted(set(during))  # refused at once, never a 500 or a hang
        assert during.count(503) > len(during) * 0.9


@pytest.mark.long_fault
def test_redis_hung_is_answered_in_bounded_time_then_recovers(system: System, scale: Scale) -> None:
    """Redis alive but not answering (SIGSTOP: a stalled disk, a swapped-out process): the bet path does
    not wait on it for the whole stall. A bet whose command was sent may still run when Redis wakes (its
    bytes wait in the socket), so its outcome is unknown: 504, never a 503 that says it was not taken."""
    untouched = {role: system.pids(role) for role in ("ledger", "feed", "gateway-worker", "redis")}
    hangs: list[tuple[float, float]] = []

    def inject(system: System, rng: random.Random) -> list[float]:
        moments = []
        for _ in range(scale.redis_outages):
            time.sleep(rng.uniform(0.5, 1.0))
            pid = system.pids("redis")[0]
            os.kill(pid, signal.SIGSTOP)
            stopped = time.time()
            time.sleep(REDIS_HUNG_S)
            os.kill(pid, signal.SIGCONT)
            hangs.append((stopped, time.time()))
            moments.append(time.time())
            time.sleep(5.0)
        return moments

    record, _ = campaign(
        system, scale, f"Redis hung for {REDIS_HUNG_S:.0f} s",
        "redis-server stopped (SIGSTOP) and continued; recovery counted from its return",
        scale.redis_outages, scale.redis_outages * (REDIS_HUNG_S + 6) + 5, inject,
        connections=int(scale.rate * REDIS_WAIT_MAX_S) + 64,
    )  # fmt: skip
    assert {role: system.pids(role) for role in untouched} == untouched
    for stopped, back in hangs:
        # Sent while Redis was stopped, early enough that even the longest wait ends before it continues.
        last_due = back - REDIS_WAIT_MAX_S
        during = [
            (done - due, status) for due, done, status in record.bets if stopped + 0.5 <= due <= last_due
        ]
        assert during, "no bet was sent while Redis was hung"
        assert {status for _, status in during} <= {503, 504}, sorted({s for _, s in during})
        assert max(waited for waited, _ in during) <= REDIS_WAIT_MAX_S, max(w for w, _ in during)


@pytest.mark.long_fault
def test_feed_kill_9(system: System, scale: Scale) -> None:
    campaign(
        system, scale, "feed killed (SIGKILL)",
        "`kill -9` of the feed, restarted by `taptrade run`",
        scale.feed_kills, scale.feed_kills * (scale.feed_recovery_s + 8) + 5,
        # a new feed holds betting closed until its breaker has seen fresh ticks that long
        kills("feed", scale.feed_kills, gap_s=(0.5, 1.5), settle_s=scale.feed_recovery_s + 4),
    )  # fmt: skip


@pytest.mark.long_fault
def test_a_silent_feed_suspends_betting_voids_the_gap_and_recovers(system: System, scale: Scale) -> None:
    silences: list[tuple[float, float]] = []

    def inject(system: System, rng: random.Random) -> list[float]:
        moments = []
        for _ in range(scale.feed_silences):
            time.sleep(rng.uniform(0.5, 1.5))
            pid = system.pids("feed")[0]
            os.kill(pid, signal.SIGSTOP)  # alive, connected, and silent: no tick, no bar, no status
            quiet = time.time()
            time.sleep(scale.silence_s)
            os.kill(pid, signal.SIGCONT)
            silences.append((quiet, time.time()))
            moments.append(time.time())
            time.sleep(scale.feed_recovery_s + 6)  # betting reopens after that long of fresh ticks
        return moments

    record, moments = campaign(
        system, scale, f"feed silent for {scale.silence_s:.0f} s",
        "the feed process stopped (SIGSTOP) and continued; recovery counted from its first tick after",
        scale.feed_silences, scale.feed_silences * (scale.silence_s + scale.feed_recovery_s + 9) + 4, inject,
    )  # fmt: skip
    for (quiet, back), recovered in zip(silences, moments, strict=True):
        suspended = {s for due, _, s in record.bets if quiet + STALE_S + 1 <= due <= back}
        assert suspended == {503}, sorted(suspended)  # price_feed_stale, with Retry-After (checked above)
        recovery = record.recovery_s(recovered, recovered + scale.feed_recovery_s + 6)
        assert recovery is not None
        assert recovery >= scale.feed_recovery_s - 1  # not before the breaker's recovery
        check_gap_voided(system, quiet, back)


def check_gap_voided(system: System, quiet: float, back: float) -> None:
    """The columns wholly inside the silence are void and every bet in them refunded once."""
    first, last = int(quiet * 1000) // COLUMN_MS + 1, int(back * 1000) // COLUMN_MS - 1
    wait_for(lambda: system.columns(first, last) == last - first + 1, 60, "the gap's columns resolved")
    assert set(system.column_statuses(first, last)) == {"void"}
    assert system.unrefunded_bets(first, last) == 0
