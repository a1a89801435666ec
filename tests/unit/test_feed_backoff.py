"""Full-jitter exponential backoff: delay n is uniform in [0, min(cap, base * 2**n)], reset starts over."""

from __future__ import annotations

import random

import pytest

from taptrade.feed.backoff import Backoff

SEED = 20240809


class Extremes(random.Random):
    """An RNG that always draws the top (or bottom) of the range, to see the window itself."""

    def __init__(self, top: bool) -> None:
        super().__init__(0)
        self._top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self._top else a


def test_delays_stay_within_the_growing_window() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=random.Random(SEED))
    for attempt in range(40):
        ceiling_s = min(30.0, 0.5 * 2**attempt)
        for _ in range(50):  # many draws at each attempt
            backoff.attempt = attempt
            assert 0.0 <= backoff.next_delay() <= ceiling_s


def test_window_doubles_from_the_base_until_the_cap() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=Extremes(top=True))
    assert [backoff.next_delay() for _ in range(9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_delay_can_be_zero_full_jitter_not_equal_jitter() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=Extremes(top=False))
    assert [backoff.next_delay() for _ in range(5)] == [0.0] * 5


def test_delays_are_spread_across_the_whole_window() -> None:
    backoff = Backoff(base_s=1.0, cap_s=1.0, rng=random.Random(SEED))
    delays = [backoff.next_delay() for _ in range(1000)]
    assert min(delays) < 0.05
    assert max(delays) > 0.95
    assert 0.45 < sum(delays) / len(delays) < 0.55


def test_same_seed_gives_the_same_delays() -> None:
    first = Backoff(rng=random.Random(SEED))
    second = Backoff(rng=random.Random(SEED))
    assert [first.next_delay() for _ in range(10)] == [second.next_delay() for _ in range(10)]


def test_reset_starts_the_window_over_at_the_base() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=Extremes(top=True))
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempt == 0
    assert backoff.next_delay() == 0.5


def test_many_failures_in_a_row_stay_at_the_cap_without_overflow() -> None:
    backoff = Backoff(base_s=0.5, cap_s=30.0, rng=Extremes(top=True))
    backoff.attempt = 10_000
    assert backoff.next_delay() == 30.0


@pytest.mark.parametrize(("base_s", "cap_s"), [(0.0, 30.0), (-1.0, 30.0), (2.0, 1.0)])
def test_nonsense_settings_are_refused(base_s: float, cap_s: float) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(base_s=base_s, cap_s=cap_s)
