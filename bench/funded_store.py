"""A ledger store on a fresh live.db with funded traders, for the benchmarks that drive the store itself
(`bench/disk_per_bet.py`, `bench/settle_step.py`), and what they place and resolve on it: bets on a band
of rows around PRICE_ROW, and columns whose range touches PRICE_ROW and its neighbours."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from taptrade.clock import ManualClock
from taptrade.commands import Command, Deposit
from taptrade.config import load_settings
from taptrade.ledger import db
from taptrade.ledger.app import rules_from
from taptrade.ledger.resolution import ColumnOutcome
from taptrade.ledger.store import LedgerStore

T0 = 1_763_700_000_000
BATCH = 2000
ROWS = range(9700, 9721)
PRICE_ROW = 9710  # the resolved range covers this row and its neighbours: about 1 bet in 7 wins


def funded_store(data_dir: Path, traders: int) -> tuple[LedgerStore, ManualClock, list[str]]:
    """The store (its clock at T0, which the caller moves on) and the traders' addresses, each with $10M."""
    clock = ManualClock(T0)
    store = LedgerStore(
        db.open_writer(data_dir / "live.db"), rules_from(load_settings(data_dir=data_dir)), clock
    )
    addresses = ["0x" + os.urandom(20).hex() for _ in range(traders)]
    apply_in_batches(store, (Deposit(str(uuid.uuid4()), a, 10**9) for a in addresses))
    return store, clock, addresses


def apply_in_batches(store: LedgerStore, commands: Iterable[Command]) -> None:
    """Apply `commands` in batches of BATCH, as a busy intake would hand them to the ledger."""
    pending = iter(commands)
    while batch := list(islice(pending, BATCH)):
        store.apply_batch(batch)


def touching_outcome(column: int) -> ColumnOutcome:
    """The column resolved with a range over PRICE_ROW and half of each neighbouring row."""
    low, high = (PRICE_ROW - 1) * 1000 + 500, (PRICE_ROW + 2) * 1000 - 500
    return ColumnOutcome(column, "resolved", low, high, low, high, 100, None, None)
