"""The ledger's read pacer: reads at least an interval apart while commands keep coming, at once after a
quiet spell or a full batch."""

from __future__ import annotations

import pytest

from taptrade.ledger.read_pacer import ReadPacer

INTERVAL_S = 0.005
BATCH_MAX = 512


@pytest.fixture
def pacer() -> ReadPacer:
    return ReadPacer(INTERVAL_S, BATCH_MAX)


def test_the_first_read_waits_for_nothing(pacer: ReadPacer) -> None:
    assert pacer.wait_s(100.0) == 0.0


def test_after_a_read_that_found_work_the_next_waits_out_the_interval(pacer: ReadPacer) -> None:
    pacer.read(started=100.0, count=6)
    assert pacer.wait_s(100.002) == pytest.approx(0.003)
    assert pacer.wait_s(100.005) == 0.0
    assert pacer.wait_s(100.010) == 0.0  # the batch took longer than the interval: no extra wait


def test_after_an_empty_read_the_next_is_at_once(pacer: ReadPacer) -> None:
    pacer.read(started=100.0, count=6)
    pacer.read(started=100.005, count=0)
    assert pacer.wait_s(100.006) == 0.0


def test_after_a_full_batch_the_backlog_is_read_without_pause(pacer: ReadPacer) -> None:
    pacer.read(started=100.0, count=BATCH_MAX)
    assert pacer.wait_s(100.001) == 0.0


def test_an_interval_of_zero_never_waits() -> None:
    pacer = ReadPacer(0.0, BATCH_MAX)
    pacer.read(started=100.0, count=6)
    assert pacer.wait_s(100.0) == 0.0
