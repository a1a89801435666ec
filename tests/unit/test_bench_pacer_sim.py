"""The pacer simulation reports what the schedule does: a prompt 10 Hz feed is never held by the gateway's
rule, and the old rule's saw-tooth shows."""

from __future__ import annotations

import re

from bench.pacer_sim import simulate

from taptrade.gateway.ws import PriceSchedule


def hold_p50_ms(report: str) -> float:
    found = re.search(r"hold_ms p50=([\d.]+)", report)
    assert found, report
    return float(found[1])


def test_a_prompt_10_hz_feed_is_held_only_by_the_old_rule() -> None:
    arrivals = [n * 0.1 + (0.003 if n % 2 else 0.0) for n in range(2_000)]
    gateway = simulate(arrivals, PriceSchedule())
    old = simulate(arrivals, PriceSchedule(0.1, tolerance_s=float("inf"), min_gap_s=0.1))
    assert "msgs_per_s=10.00" in gateway
    assert hold_p50_ms(gateway) < 1.0
    assert hold_p50_ms(old) > 10.0
