"""The ledger's metrics (served on `ledger_metrics_port`): group commit and what the commands did."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

LEDGER_BATCH_SIZE = Histogram(
    "ledger_batch_size",
    "Commands committed per ledger transaction (group commit).",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
LEDGER_COMMIT_SECONDS = Histogram(
    "ledger_commit_seconds",
    "Time to commit one ledger batch (fsync included).",
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
LEDGER_COMMANDS_TOTAL = Counter(
    "ledger_commands_total",
    "Intake commands handled by the ledger, by kind and result code.",
    ["kind", "result"],
)
LEDGER_BATCH_FAILURES_TOTAL = Counter(
    "ledger_batch_failures_total",
    "Ledger batches rolled back whole because the database failed (disk full, I/O error).",
)
LEDGER_STORAGE_REFUSING = Gauge(
    "ledger_storage_refusing",
    "1 while live.db's storage refuses writes (disk full, I/O error) and commands are answered"
    " storage_unavailable; 0 once a batch commits again.",
)
BETS_RESOLVED_TOTAL = Counter(
    "bets_resolved_total",
    "Bets settled by resolution, by outcome (won, lost, void).",
    ["outcome"],
)
LEDGER_WAL_CHECKPOINT_SECONDS = Histogram(
    "ledger_wal_checkpoint_seconds",
    "Time of one background WAL checkpoint (page copies and the database file's fsync).",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)
LEDGER_WAL_PAGES = Gauge(
    "ledger_wal_pages",
    "Pages in live.db's WAL at the last background checkpoint: a WAL that keeps growing means the"
    " checkpoints are not catching up (readers holding old snapshots, or a slow disk).",
)
