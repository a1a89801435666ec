"""The load generator's arrival schedule: exact request counts and the rate shape of each phase."""

from __future__ import annotations

import itertools

from bench.schedule import arrivals, constant, spike
from bench.traffic import users_for_rate


def test_a_constant_phase_sends_rate_times_seconds_evenly() -> None:
    due = arrivals([constant("measure", 10, 300)])
    assert len(due) == 3000
    gaps = {round(b.due_s - a.due_s, 9) for a, b in itertools.pairwise(due)}
    assert gaps == {round(1 / 300, 9)}
    assert due[-1].due_s == 10


def test_a_spike_ramps_from_nothing_holds_then_recovers() -> None:
    due = arrivals(spike(5000, ramp_s=10, hold_s=10, after_rate=1000, after_s=20))
    by_phase = {name: [a.due_s for a in due if a.phase == name] for name in ("ramp", "peak", "after")}
    assert [len(v) for v in by_phase.values()] == [25_000, 50_000, 20_000]
    assert all(b.due_s >= a.due_s for a, b in itertools.pairwise(due))
    ramp = by_phase["ramp"]
    first_second = sum(1 for t in ramp if t <= 1)
    last_second = sum(1 for t in ramp if t > 9)
    assert first_second == 250  # the rate is 500/s after 1 s: 250 requests so far
    assert 4700 <= last_second <= 4800  # 4,750 in the ramp's last second
    assert min(by_phase["peak"]) > 10
    assert max(by_phase["peak"]) <= 20


def test_phases_carry_their_fractions_so_no_request_is_lost() -> None:
    due = arrivals([constant("a", 1.5, 3), constant("b", 1.5, 3)])
    assert len(due) == 9


def test_enough_users_that_none_runs_out_of_cells() -> None:
    assert users_for_rate(100) == 600
    assert users_for_rate(3000) * 7 / 5 >= 3000
