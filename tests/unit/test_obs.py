"""Logs are JSON lines carrying the process role and bound ids; metrics are served on /metrics."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request

import pytest

from taptrade.ledger.metrics import LEDGER_BATCH_SIZE
from taptrade.obs.logging import bound_ids, configure_logging, get_logger
from taptrade.obs.metrics import serve_metrics
from tests.support import free_port


def test_log_lines_are_json_with_process_and_bound_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "ledger")
    log = get_logger("test")
    with bound_ids(request_id="r-1", bet_id="b-2"):
        log.info("bet_confirmed", cell="1:2")
    log.debug("hidden")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["event"] == "bet_confirmed"
    assert (line["process"], line["request_id"], line["bet_id"], line["cell"]) == (
        "ledger",
        "r-1",
        "b-2",
        "1:2",
    )
    assert line["level"] == "info"
    assert "timestamp" in line


def test_a_value_json_cannot_hold_is_logged_as_its_repr(capsys: pytest.CaptureFixture[str]) -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "<opaque 7>"

    configure_logging("info", "gateway")
    get_logger("test").info("odd", thing=Opaque(), cents=12, missing=None)
    line = json.loads(capsys.readouterr().err)
    assert (line["thing"], line["cents"], line["missing"]) == ("<opaque 7>", 12, None)


def test_metrics_are_served_and_a_busy_port_is_not_fatal() -> None:
    port = free_port()
    LEDGER_BATCH_SIZE.observe(3)
    assert serve_metrics(port) is True
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "ledger_batch_size_count" in body
    assert "ledger_commit_seconds_bucket" in body
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert serve_metrics(busy.getsockname()[1]) is False
    assert serve_metrics(0) is False


def numbers_printed_by(code: str) -> list[int]:
    """Run `code` in a fresh interpreter (process-wide settings stay out of the test runner)."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return [int(word) for word in result.stdout.split()]


def test_the_startup_heap_is_frozen_out_of_full_collections() -> None:
    # In a child: freezing the test runner's own heap would keep its garbage for the rest of the session.
    code = (
        "import gc\n"
        "import taptrade.gateway.app\n"
        "from taptrade.obs.heap import freeze_startup_heap\n"
        "before = len(gc.get_objects(generation=2))\n"
        "frozen = freeze_startup_heap()\n"
        "print(before, frozen, gc.get_freeze_count(), len(gc.get_objects(generation=2)))\n"
    )
    before, frozen, freeze_count, oldest_after = numbers_printed_by(code)
    assert frozen == freeze_count > before > 50_000
    assert oldest_after == 0  # what a full collection walks: nothing of the start-up heap


def test_a_gateway_worker_takes_the_hard_open_files_limit() -> None:
    code = (
        "import resource\n"
        "from taptrade.gateway.server import raise_open_files_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))\n"
        "print(raise_open_files_limit(), hard)\n"
    )
    now, hard = numbers_printed_by(code)
    assert now == hard
