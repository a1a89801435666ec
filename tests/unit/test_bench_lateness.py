"""The load generator reports its own lateness, so a latency it caused is not read as the server's."""

from __future__ import annotations

from bench.loadgen import Results, lateness_lines
from bench.schedule import constant


def test_a_loader_ready_in_time_reports_its_margin_and_its_send_lag_per_phase() -> None:
    one = Results(ready_s=12.5, send_lag_ms={"measure": [0.0] * 98 + [4.0, 9.0]})
    two = Results(ready_s=11.0, send_lag_ms={"measure": [1.0] * 100})
    lines = lateness_lines([one, two], [constant("measure", 10, 20)])
    assert lines == [
        "loader_ready_s_before_first_due=[12.5, 11.0]",
        "loader_send_lag_ms phase=measure p50=1.0 p99=4.0 max=9.0",
    ]


def test_a_loader_that_started_late_says_so() -> None:
    lines = lateness_lines([Results(ready_s=2.0), Results(ready_s=-0.4)], [constant("measure", 10, 20)])
    assert lines[0] == "loader_ready_s_before_first_due=[2.0, -0.4]"
    assert lines[1].startswith("loader_started_late")
    assert len(lines) == 2  # no requests, so no lag line
