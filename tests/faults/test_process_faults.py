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
from functools import partial

import pytest

from tests.faults.conftest import Scale
from tests.faults.harness import Fault, Inject, System, campaign
from tests.support import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(1800)]

STALE_S = 10.0  # the gateway suspends betting when the last tick is older (TAPTRADE_FEED_STALE_AFTER_MS)
COLUMN_MS = 5000
REDIS_HUNG_S = 8.0
REDIS_WAIT_MAX_S = 4.5  # a free connection (2 s), the command (2 s), and a margin


def kills(
    role: str,
    runs: int,
    *,
    gap_s: tuple[float, float],
    count: int = 1,
    settle_s: float = 0.0,
    serving_event: str | None = None,
) -> Inject:
    """`runs` times: wait a random moment, SIGKILL one `role` process, wait until `count` run again (the
    launcher or the gateway's supervisor restarts it) — and, with `serving_event` (`ledger_started`),
    until the new one has logged it, so that each kill strikes a process at work, not one still
    starting — and `settle_s` more."""

    def inject(system: System, rng: random.Random) -> list[Fault]:
        faults = []
        for _ in range(runs):
            time.sleep(rng.uniform(*gap_s))
            log_mark = system.log_size()
            # The moment is taken before the signal: a bet refused between the two belongs to this fault,
            # not to the one before (whose recovery it would otherwise stretch to this moment).
            killed = time.time()
            pid = system.kill(role)
            faults.append(Fault(killed, killed))
            system.wait_replaced(role, pid, count=count)
            if serving_event:
                wait_for(partial(system.logged, serving_event, log_mark), 60, f"the new {role} serving")
            time.sleep(settle_s)
        return faults

    return inject


def stops(
    role: str,
    runs: int,
    hold_s: float,
    *,
    gap_s: tuple[float, float],
    settle_s: float,
) -> Inject:
    """`runs` times: wait a random moment, stop one `role` process (SIGSTOP: alive, its sockets open, not
    answering), continue it after `hold_s`, and wait `settle_s`."""

    def inject(system: System, rng: random.Random) -> list[Fault]:
        faults = []
        for _ in range(runs):
            time.sleep(rng.uniform(*gap_s))
            pid = system.pids(role)[0]
            stopped = time.time()  # before the signal, as in `kills`
            os.kill(pid, signal.SIGSTOP)
            time.sleep(hold_s)
            os.kill(pid, signal.SIGCONT)
            faults.append(Fault(stopped, time.time()))
            time.sleep(settle_s)
        return faults

    return inject


def test_ledger_kill_9_at_random_moments(system: System, scale: Scale) -> None:
    record, _ = campaign(
        system, scale, "ledger killed (SIGKILL)", "`kill -9` at a random moment, restarted by `taptrade run`",
        scale.ledger_kills, scale.ledger_kills * 3.5 + 5,  # a kill, a restart of about 2 s, a pause
        kills("ledger", scale.ledger_kills, gap_s=(0.3, 1.5), serving_event="ledger_started"),
    )  # fmt: skip
    assert len(record.confirmed) > 0


@pytest.mark.long_fault
def test_gateway_worker_kill_9(system: System, scale: Scale) -> None:
    campaign(
        system, scale, "gateway worker killed (SIGKILL)",
        "`kill -9` of one of the two workers, restarted by the gateway's supervisor",
        scale.worker_kills, scale.worker_kills * 3 + 5,
        # Each kill waits for the worker killed before to serve again: two dead at once is another fault.
        kills("gateway-worker", scale.worker_kills, gap_s=(0.5, 1.5), count=2,
              serving_event="gateway_worker_serving"),
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

    def inject(system: System, rng: random.Random) -> list[Fault]:
        assert system.proc is not None
        faults = []
        for _ in range(scale.redis_outages):
            time.sleep(rng.uniform(0.5, 1.0))
            # The launcher would restart Redis at once: hold it while Redis stays down.
            os.kill(system.proc.pid, signal.SIGSTOP)
            try:
                down = time.time()  # before the signal, as in `kills`
                pid = system.kill("redis")
                time.sleep(10.0)
            finally:
                os.kill(system.proc.pid, signal.SIGCONT)
            faults.append(Fault(down, time.time()))
            system.wait_replaced("redis", pid)
            time.sleep(5.0)
        return faults

    record, outages = campaign(
        system, scale, "Redis down for 10 s",
        "redis-server killed while `taptrade run` is stopped (SIGSTOP), so nothing restarts it for 10 s; "
        "recovery counted from the launcher's release (it starts Redis again after 0.5 to 1 s)",
        scale.redis_outages, scale.redis_outages * 17 + 5, inject,
    )  # fmt: skip
    assert {role: system.pids(role) for role in untouched} == untouched  # recovered without restarts
    for outage in outages:
        during = [s for due, _, s in record.bets if outage.struck_s + 1 <= due <= outage.over_s - 1]
        assert during, "no bet was sent while Redis was down"
        assert set(during) <= {503, 0}, sorted(set(during))  # refused at once, never a 500 or a hang
        assert during.count(503) > len(during) * 0.9


@pytest.mark.long_fault
def test_redis_hung_is_answered_in_bounded_time_then_recovers(system: System, scale: Scale) -> None:
    """Redis alive but not answering (SIGSTOP: a stalled disk, a swapped-out process): the bet path does
    not wait on it for the whole stall. A bet whose command was sent may still run when Redis wakes (its
    bytes wait in the socket), so its outcome is unknown: 504, never a 503 that says it was not taken."""
    untouched = {role: system.pids(role) for role in ("ledger", "feed", "gateway-worker", "redis")}
    inject = stops("redis", scale.redis_outages, REDIS_HUNG_S, gap_s=(0.5, 1.0), settle_s=5.0)

    record, hangs = campaign(
        system, scale, f"Redis hung for {REDIS_HUNG_S:.0f} s",
        "redis-server stopped (SIGSTOP) and continued; recovery counted from its return",
        scale.redis_outages, scale.redis_outages * (REDIS_HUNG_S + 6) + 5, inject,
        connections=int(scale.rate * REDIS_WAIT_MAX_S) + 64,
    )  # fmt: skip
    assert {role: system.pids(role) for role in untouched} == untouched
    for hang in hangs:
        # Sent while Redis was stopped, early enough that even the longest wait ends before it continues.
        first_due, last_due = hang.struck_s + 0.5, hang.over_s - REDIS_WAIT_MAX_S
        during = [(done - due, status) for due, done, status in record.bets if first_due <= due <= last_due]
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
    # Alive, connected and silent: no tick, no bar, no status; betting reopens after the breaker's recovery
    # of fresh ticks.
    inject = stops(
        "feed", scale.feed_silences, scale.silence_s, gap_s=(0.5, 1.5),
        settle_s=scale.feed_recovery_s + 6,
    )  # fmt: skip

    record, silences = campaign(
        system, scale, f"feed silent for {scale.silence_s:.0f} s",
        "the feed process stopped (SIGSTOP) and continued; recovery counted from its first tick after",
        scale.feed_silences, scale.feed_silences * (scale.silence_s + scale.feed_recovery_s + 9) + 4, inject,
    )  # fmt: skip
    for silence in silences:
        quiet, back = silence.struck_s, silence.over_s
        suspended = {s for due, _, s in record.bets if quiet + STALE_S + 1 <= due <= back}
        assert suspended == {503}, sorted(suspended)  # price_feed_stale, with Retry-After (checked above)
        recovery = record.recovery_s(back, back + scale.feed_recovery_s + 6)
        assert recovery is not None
        assert recovery >= scale.feed_recovery_s - 1  # not before the breaker's recovery
        check_gap_voided(system, quiet, back)


def check_gap_voided(system: System, quiet: float, back: float) -> None:
    """The columns wholly inside the silence are void and every bet in them refunded once."""
    first, last = int(quiet * 1000) // COLUMN_MS + 1, int(back * 1000) // COLUMN_MS - 1
    wait_for(lambda: system.columns(first, last) == last - first + 1, 60, "the gap's columns resolved")
    assert set(system.column_statuses(first, last)) == {"void"}
    assert system.unrefunded_bets(first, last) == 0
