"""Prometheus metrics: every metric of every process is declared here, so names stay consistent."""

from __future__ import annotations

import errno

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from taptrade.obs.logging import get_logger

log = get_logger(__name__)

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


PRICE_FEED_STALENESS_SECONDS = Gauge(
    "price_feed_staleness_seconds",
    "Seconds since the feed's last fresh tick (by the feed's clock).",
)
CIRCUIT_BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "1 while the circuit breaker is open (betting suspended), 0 while closed.",
)


def serve_metrics(port: int) -> bool:
    """Expose /metrics on `port` (0 = off). A port in use is logged, not fatal: money comes first."""
    if port == 0:
        return False
    try:
        start_http_server(port, addr="127.0.0.1")
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        log.warning("metrics_port_in_use", port=port)
        return False
    log.info("metrics_serving", port=port)
    return True
