"""The feed's metrics (served on `feed_metrics_port`): how fresh the price is and whether betting is open."""

from __future__ import annotations

from prometheus_client import Gauge

PRICE_FEED_STALENESS_SECONDS = Gauge(
    "price_feed_staleness_seconds",
    "Seconds since the feed's last fresh tick (by the feed's clock).",
)
CIRCUIT_BREAKER_STATE = Gauge(
    "circuit_breaker_state",
    "1 while the circuit breaker is open (betting suspended), 0 while closed.",
)
