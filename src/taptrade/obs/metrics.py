"""Prometheus plumbing shared by every process: serving `/metrics` on a port, the gateway's
multi-process collection (its workers' samples summed into one answer), and text files for the
one-shot jobs (archiver, backup, integrity) that the node exporter's textfile collector reads.

The metrics themselves are declared by the role that moves them (`ledger/metrics.py`,
`feed/metrics.py`, `gateway/metrics.py`); docs/observability.md lists every name.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, start_http_server, write_to_textfile
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from taptrade.obs.logging import get_logger

log = get_logger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


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


def prepare_multiprocess_dir(directory: Path) -> None:
    """Start the gateway's shared metrics directory empty and point its workers at it. Must run before
    the workers start: prometheus_client picks its storage when it is first imported."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(directory)


def mark_worker_dead(pid: int) -> None:
    """A dead worker's live gauges (open WebSockets) stop counting; its counters stay in the sums."""
    if os.environ.get(MULTIPROC_ENV):
        mark_process_dead(pid)  # type: ignore[no-untyped-call]


def multiprocess_registry() -> CollectorRegistry | None:
    """A registry that sums every worker's samples, or None outside multi-process mode."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return None
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def write_job_metrics(path: Path, values: dict[str, tuple[str, float]]) -> None:
    """A one-shot job's gauges (name -> (help, value)) as a Prometheus text file, replaced atomically."""
    registry = CollectorRegistry()
    for name, (documentation, value) in values.items():
        Gauge(name, documentation, registry=registry).set(value)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
