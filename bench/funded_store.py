"""A ledger store on a fresh live.db with funded traders, for the benchmarks that drive the store itself
(`bench/disk_per_bet.py`, `bench/settle_step.py`)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from taptrade.clock import ManualClock
from taptrade.commands import Deposit
from taptrade.config import load_settings
from taptrade.ledger import db
from taptrade.ledger.app import rules_from
from taptrade.ledger.store import LedgerStore

T0 = 1_763_700_000_000
BATCH = 2000


def funded_store(data_dir: Path, traders: int) -> tuple[LedgerStore, ManualClock, list[str]]:
    """The store (its clock at T0, which the caller moves on) and the traders' addresses, each with $10M."""
    clock = ManualClock(T0)
    store = LedgerStore(
        db.open_writer(data_dir / "live.db"), rules_from(load_settings(data_dir=data_dir)), clock
    )
    addresses = ["0x" + os.urandom(20).hex() for _ in range(traders)]
    for start in range(0, len(addresses), BATCH):
        store.apply_batch([Deposit(str(uuid.uuid4()), a, 10**9) for a in addresses[start : start + BATCH]])
    return store, clock, addresses
