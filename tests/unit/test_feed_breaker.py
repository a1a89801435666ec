"""The breaker on an injected clock: 3 s DEGRADED, 10 s CRITICAL, 30 s of fresh ticks to recover."""

from __future__ import annotations

from taptrade.feed.breaker import Breaker, Health, Mode

T0 = 1_000_000


def ticking(breaker: Breaker, start_ms: int, end_ms: int, every_ms: int = 500) -> None:
    for now in range(start_ms, end_ms + 1, every_ms):
        breaker.on_tick(now)
        breaker.evaluate(now)


def healthy_breaker() -> Breaker:
    breaker = Breaker(T0)
    ticking(breaker, T0, T0 + 30_000)
    assert breaker.evaluate(T0 + 30_000).health is Health.HEALTHY
    return breaker


def test_a_new_feed_is_critical_until_it_has_ticked_fresh_for_30_s() -> None:
    breaker = Breaker(T0)
    assert breaker.evaluate(T0).health is Health.CRITICAL
    assert not breaker.state.betting_open
    ticking(breaker, T0, T0 + 29_500)
    assert breaker.evaluate(T0 + 29_500).health is Health.CRITICAL
    breaker.on_tick(T0 + 30_000)
    state = breaker.evaluate(T0 + 30_000)
    assert (state.health, state.betting_open, state.since_ms) == (Health.HEALTHY, True, T0 + 30_000)


def test_silence_degrades_after_3_s_and_suspends_betting_after_10_s() -> None:
    breaker = healthy_breaker()
    last = T0 + 30_000
    assert breaker.evaluate(last + 3_000).health is Health.HEALTHY
    degraded = breaker.evaluate(last + 3_001)
    assert (degraded.health, degraded.betting_open) == (Health.DEGRADED, True)
    assert breaker.evaluate(last + 10_000).health is Health.DEGRADED
    critical = breaker.evaluate(last + 10_001)
    assert (critical.health, critical.betting_open, critical.since_ms) == (
        Health.CRITICAL,
        False,
        last + 10_001,
    )


def test_recovery_from_critical_needs_30_s_of_continuous_fresh_ticks() -> None:
    breaker = healthy_breaker()
    outage_end = T0 + 30_000 + 20_000
    assert breaker.evaluate(outage_end).health is Health.CRITICAL
    ticking(breaker, outage_end, outage_end + 29_500)
    assert breaker.evaluate(outage_end + 29_500).health is Health.CRITICAL  # hysteresis holds
    breaker.on_tick(outage_end + 30_000)
    assert breaker.evaluate(outage_end + 30_000).health is Health.HEALTHY


def test_a_gap_during_recovery_restarts_the_30_s() -> None:
    breaker = healthy_breaker()
    back = T0 + 30_000 + 20_000
    ticking(breaker, back, back + 20_000)
    resumed = back + 20_000 + 4_000  # a 4 s gap: the run of fresh ticks is broken
    ticking(breaker, resumed, resumed + 29_500)
    assert breaker.evaluate(resumed + 29_500).health is not Health.HEALTHY
    breaker.on_tick(resumed + 30_000)
    assert breaker.evaluate(resumed + 30_000).health is Health.HEALTHY


def test_a_short_degradation_also_waits_30_s_to_clear_but_betting_stays_open() -> None:
    breaker = healthy_breaker()
    back = T0 + 30_000 + 5_000
    ticking(breaker, back, back + 10_000)
    state = breaker.evaluate(back + 10_000)
    assert (state.health, state.betting_open) == (Health.DEGRADED, True)


def test_clock_skew_over_a_second_degrades() -> None:
    breaker = healthy_breaker()
    breaker.on_tick(T0 + 30_500, skew_ms=1_500)
    assert breaker.evaluate(T0 + 30_500).health is Health.DEGRADED


def test_operator_override_beats_health_and_auto_hands_back() -> None:
    breaker = healthy_breaker()
    now = T0 + 30_000
    assert not breaker.set_mode(Mode.FORCED_OPEN, now).betting_open
    silent = now + 60_000
    forced_closed = breaker.set_mode(Mode.FORCED_CLOSED, silent)
    assert (forced_closed.health, forced_closed.betting_open) == (Health.CRITICAL, True)
    assert not breaker.set_mode(Mode.AUTO, silent).betting_open


def test_since_moves_only_on_change() -> None:
    breaker = healthy_breaker()
    first = breaker.evaluate(T0 + 30_000)
    breaker.on_tick(T0 + 31_000)
    assert breaker.evaluate(T0 + 31_000).since_ms == first.since_ms


def test_a_silence_nobody_looked_at_still_counts_when_the_next_tick_arrives() -> None:
    breaker = healthy_breaker()
    breaker.on_tick(T0 + 30_000 + 12_000)  # 12 s of silence, never evaluated during it
    assert breaker.evaluate(T0 + 30_000 + 12_000).health is Health.CRITICAL
