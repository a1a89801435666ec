"""The responsible-play rules: what takes effect at once, what waits 24 hours, and why a bet is refused."""

from __future__ import annotations

import pytest

from taptrade.clock import DAY_MS, utc_day
from taptrade.limits import MAX_PAUSE_MINUTES, RAISE_DELAY_MS, LimitsError, LimitState

NOW = 1_763_700_000_000  # 2025-11-21 04:40 UTC
TODAY = utc_day(NOW)


def limited(limit: int, loss: int = 0) -> LimitState:
    return LimitState(limit=limit, loss_day=TODAY, loss=loss)


def test_utc_day_changes_at_midnight_utc() -> None:
    midnight = (TODAY + 1) * DAY_MS
    assert (utc_day(midnight - 1), utc_day(midnight)) == (TODAY, TODAY + 1)


def test_first_limit_and_lowering_take_effect_at_once_and_cancel_a_pending_raise() -> None:
    first = LimitState().with_change(NOW, set_limit=True, limit=5000, pause_minutes=None)
    assert (first.limit, first.next_from_ms) == (5000, None)
    raised = first.with_change(NOW, set_limit=True, limit=9000, pause_minutes=None)
    lowered = raised.with_change(NOW + 1, set_limit=True, limit=2000, pause_minutes=None)
    assert (lowered.limit, lowered.next_limit, lowered.next_from_ms) == (2000, None, None)


def test_a_raise_or_removal_waits_24_hours_and_the_lower_limit_holds_meanwhile() -> None:
    for wanted in (9000, None):
        state = limited(5000).with_change(NOW, set_limit=True, limit=wanted, pause_minutes=None)
        assert (state.limit, state.next_limit, state.next_from_ms) == (5000, wanted, NOW + RAISE_DELAY_MS)
        assert state.limit_at(NOW + RAISE_DELAY_MS - 1) == 5000
        assert state.limit_at(NOW + RAISE_DELAY_MS) == wanted


def test_asking_again_does_not_restart_the_wait_nor_cancel_it() -> None:
    pending = limited(5000).with_change(NOW, set_limit=True, limit=9000, pause_minutes=None)
    same_raise = pending.with_change(NOW + 3600_000, set_limit=True, limit=9000, pause_minutes=None)
    current_again = pending.with_change(NOW + 3600_000, set_limit=True, limit=5000, pause_minutes=None)
    assert same_raise.next_from_ms == current_again.next_from_ms == NOW + RAISE_DELAY_MS
    other_raise = pending.with_change(NOW + 3600_000, set_limit=True, limit=8000, pause_minutes=None)
    assert other_raise.next_from_ms == NOW + 3600_000 + RAISE_DELAY_MS


def test_leaving_the_limit_out_leaves_it_as_it_is() -> None:
    pending = limited(5000).with_change(NOW, set_limit=True, limit=None, pause_minutes=None)
    after = pending.with_change(NOW, set_limit=False, limit=None, pause_minutes=10)
    assert (after.limit, after.next_limit, after.next_from_ms) == (5000, None, NOW + RAISE_DELAY_MS)


def test_a_due_raise_becomes_the_limit_before_a_change_is_judged() -> None:
    pending = limited(5000).with_change(NOW, set_limit=True, limit=9000, pause_minutes=None)
    later = NOW + RAISE_DELAY_MS + 1
    lowered = pending.with_change(later, set_limit=True, limit=8000, pause_minutes=None)
    assert (lowered.limit, lowered.next_from_ms) == (8000, None)  # 8,000 is below the 9,000 now in force


def test_a_pause_extends_and_never_shortens() -> None:
    paused = LimitState().with_change(NOW, set_limit=False, limit=None, pause_minutes=60)
    assert paused.paused_until_ms == NOW + 3_600_000
    shorter = paused.with_change(NOW, set_limit=False, limit=None, pause_minutes=5)
    assert shorter.paused_until_ms == NOW + 3_600_000
    longer = paused.with_change(NOW, set_limit=False, limit=None, pause_minutes=120)
    assert longer.paused_until_ms == NOW + 7_200_000


@pytest.mark.parametrize(
    ("limit", "pause"), [(-1, None), (10**16, None), (None, 0), (None, MAX_PAUSE_MINUTES + 1), (None, -5)]
)
def test_values_out_of_range_are_refused(limit: int | None, pause: int | None) -> None:
    with pytest.raises(LimitsError):
        LimitState().with_change(NOW, set_limit=True, limit=limit, pause_minutes=pause)


def test_refusal_reasons() -> None:
    assert LimitState().refusal(NOW, 10**9) is None
    assert limited(5000, loss=4000).refusal(NOW, 1000) is None  # exactly at the limit is allowed
    assert limited(5000, loss=4000).refusal(NOW, 2500) == "loss_limit"
    assert limited(5000, loss=-3000).refusal(NOW, 8000) is None  # a winning day leaves more room
    assert limited(0).refusal(NOW, 100) == "loss_limit"
    paused = limited(5000).with_change(NOW, set_limit=False, limit=None, pause_minutes=1)
    assert paused.refusal(NOW + 59_999, 100) == "cooling_down"
    assert paused.refusal(NOW + 60_000, 100) is None


def test_yesterdays_loss_does_not_count_today() -> None:
    state = limited(5000, loss=5000)
    assert state.refusal(NOW, 100) == "loss_limit"
    assert state.refusal((TODAY + 1) * DAY_MS, 5000) is None
    assert state.loss_on(TODAY + 1) == 0
