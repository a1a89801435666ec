"""Fault campaigns (tests/faults): `make test` runs the quick ones short (the ledger killed three times, the
WebSocket frames, the adversaries); `make test-faults` runs every campaign in full
(TAPTRADE_FAULTS=full, including those marked `long_fault`) and records their figures for
docs/reliability.md."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.harness import System


@dataclass(frozen=True)
class Scale:
    full: bool
    rate: int  # bets a second from the load generator
    ledger_kills: int
    worker_kills: int
    feed_kills: int
    redis_restarts: int
    redis_outages: int
    feed_silences: int
    # The breaker's recovery (TAPTRADE_FEED_RECOVERY_MS): the product's 30 s in the full run; 5 s in the
    # short one, so that `make test` can afford a feed campaign.
    feed_recovery_s: float
    silence_s: float


SHORT = Scale(
    full=False,
    rate=150,
    ledger_kills=3,
    worker_kills=1,
    feed_kills=1,
    redis_restarts=1,
    redis_outages=1,
    feed_silences=1,
    feed_recovery_s=5.0,
    silence_s=12.0,
)
FULL = Scale(
    full=True,
    rate=400,
    ledger_kills=20,
    worker_kills=5,
    feed_kills=3,
    redis_restarts=3,
    redis_outages=3,
    feed_silences=3,
    feed_recovery_s=30.0,
    silence_s=15.0,
)


@pytest.fixture(scope="session")
def scale() -> Scale:
    return FULL if os.environ.get("TAPTRADE_FAULTS") == "full" else SHORT


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, scale: Scale) -> Iterator[System]:
    """One `taptrade run` for a module's campaigns (a new one keeps betting closed until its breaker has
    seen fresh ticks for `feed_recovery_s`), stopped after the module so that it takes no CPU from the
    tests that follow. Its processes are restarted by the launcher after each fault, as in production;
    each campaign waits for its recovery before the next begins."""
    root: Path = tmp_path_factory.mktemp("faults")
    with running_system(root / "data", scale) as running:
        yield running


@contextmanager
def running_system(data_dir: Path, scale: Scale) -> Iterator[System]:
    """`taptrade run` on `data_dir` as the campaigns have it (the breaker's recovery of `scale`), stopped
    on leaving."""
    recovery_ms = str(int(scale.feed_recovery_s * 1000))
    running = System(data_dir, env={"TAPTRADE_FEED_RECOVERY_MS": recovery_ms}).start()
    try:
        yield running
    finally:
        running.stop()
