"""Helpers shared by the tests: real redis-server processes, free ports, ledger runners, bet builders."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from taptrade.clock import Clock, SystemClock
from taptrade.commands import Deposit, PlaceBet
from taptrade.config import Settings, load_settings
from taptrade.launcher import redis_answers
from taptrade.ledger.app import build_service
from taptrade.ledger.service import LedgerService

REPO = Path(__file__).resolve().parent.parent
GRID_COLUMN_MS = 5000


S3_BUCKET = "taptrade-archive"  # created by the s3_env fixture on the test S3 server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} not reached within {timeout_s} s")


@dataclass
class RedisServer:
    """A real redis-server process on a free port, owned by the test that started it."""

    directory: Path
    appendonly: bool = False
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; `make test` installs it with apt-get")
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--dir", str(self.directory), "--maxmemory-policy", "noeviction",
                "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
                "--loglevel", "warning"]  # fmt: skip
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        wait_for(self.answers, 10.0, "redis-server")

    def answers(self) -> bool:
        return redis_answers(self.url, timeout_s=0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def make_settings(data_dir: Path, redis_url: str, **overrides: object) -> Settings:
    overrides.setdefault("port", free_port())
    return load_settings(
        data_dir=data_dir, redis_url=redis_url, ledger_metrics_port=0, feed_metrics_port=0, **overrides
    )


class LedgerThread:
    """The real ledger loop (real SQLite, real Redis) on a thread of the test process."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.service: LedgerService = build_service(settings, clock or SystemClock())
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.service.run, args=(self.stop_event,), daemon=True)

    def __enter__(self) -> LedgerThread:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "ledger thread did not stop"
        self.service.close()

    def writer_connection(self) -> sqlite3.Connection:
        """The ledger's own connection to live.db, for a test that changes what SQLite lets it do."""
        return self.service._store._conn


def ledger_subprocess(settings: Settings, log_path: Path) -> subprocess.Popen[bytes]:
    """`taptrade ledger` as a real child process (for kill -9)."""
    env = {**os.environ, "TAPTRADE_LEDGER_METRICS_PORT": "0"}
    argv = [sys.executable, "-m", "taptrade", "ledger", "--data-dir", str(settings.data_dir),
            "--redis-url", str(settings.redis_url)]  # fmt: skip
    with log_path.open("ab") as log:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=log)


def address(n: int) -> str:
    return "0x" + f"{n:040x}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def placeable_column(offset: int = 4) -> int:
    return now_ms() // GRID_COLUMN_MS + offset


def bet(
    owner: str,
    *,
    column: int | None = None,
    row: int = 9_700,
    amount: int = 1000,
    bet_id: str | None = None,
    multiplier_e4: int = 25_000,
) -> PlaceBet:
    return PlaceBet(
        bet_id=bet_id or str(uuid.uuid4()),
        address=owner,
        column=placeable_column() if column is None else column,
        row=row,
        amount=amount,
        multiplier_e4=multiplier_e4,
        quote_id=1,
        placed_ms=now_ms(),
    )


def deposit(owner: str, amount: int, command_id: str | None = None) -> Deposit:
    return Deposit(command_id=command_id or str(uuid.uuid4()), address=owner, amount=amount)


# The schemathesis checks that say an answer keeps the API contract (make test's quick pass and the deep
# one in tests/faults). Left out: positive_data_acceptance (a schema-valid bet is still
# refused without a valid signature over it, by design) and the checks about resources the fuzzer would
# create and delete (the API deletes nothing).
SCHEMA_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
)
