"""`taptrade run`: one command that brings the product up on a laptop or a demo VM (DESIGN §1).

It finds Redis (the configured URL if it answers, else a private `redis-server` with its append-only
file in the data dir, whose URL it records in `DATA_DIR/redis.url` for the other commands), then starts
the processes as children, restarts any that die (with backoff, logged), and on Ctrl-C or SIGTERM stops
them in reverse order and waits for each. Children die with the launcher even if it is killed.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from taptrade.config import REDIS_URL_FILE, Settings, redacted_url
from taptrade.obs.logging import get_logger
from taptrade.stop_signal import StopSignal

log = get_logger(__name__)

UNIX_SOCKET_MAX_PATH = 100
STOP_TIMEOUT_S = 10.0
RESTART_BACKOFF_MIN_S = 0.5
# A child that ran this long is healthy again: its next crash restarts it quickly.
HEALTHY_AFTER_S = 60.0

REDIS_MISSING = (
    "redis-server was not found on PATH, and no Redis answers at TAPTRADE_REDIS_URL.\n"
    "Install it (Debian/Ubuntu): sudo apt-get update && sudo apt-get install -y redis-server\n"
    "or point TAPTRADE_REDIS_URL (or --redis-url) at a reachable Redis 7."
)


class LauncherError(RuntimeError):
    pass


@dataclass
class ChildSpec:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the launcher dies, however it dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class Child:
    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.restarts = 0
        self.restart_at: float | None = None
        self.backoff_s = RESTART_BACKOFF_MIN_S

    def start(self) -> None:
        env = {**os.environ, **self.spec.env}
        self.proc = subprocess.Popen(
            self.spec.argv,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only the launcher, which stops children in order
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("child_started", child=self.spec.name, pid=self.proc.pid, restarts=self.restarts)

    def stop(self, timeout_s: float) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            log.error("child_killed", child=self.spec.name, pid=proc.pid, after_s=timeout_s)
            proc.kill()
            proc.wait()
        log.info("child_stopped", child=self.spec.name, pid=proc.pid, code=proc.returncode)


class Supervisor:
    """Starts children in order, restarts the ones that die, stops them in reverse order."""

    def __init__(self, specs: list[ChildSpec], backoff_max_s: float = 30.0) -> None:
        self.children = [Child(spec) for spec in specs]
        self.backoff_max_s = backoff_max_s

    def poll_once(self) -> None:
        now = time.monotonic()
        for child in self.children:
            proc = child.proc
            if proc is None:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    child.start()
                continue
            code = proc.poll()
            if code is None:
                continue
            if now - child.started_at >= HEALTHY_AFTER_S:
                child.backoff_s = RESTART_BACKOFF_MIN_S
            log.error(
                "child_exited",
                child=child.spec.name,
                pid=proc.pid,
                code=code,
                restart_in_s=child.backoff_s,
            )
            child.restart_at = now + child.backoff_s
            child.backoff_s = min(child.backoff_s * 2, self.backoff_max_s)

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop(STOP_TIMEOUT_S)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_answers(url: str, timeout_s: float = 1.0) -> bool:
    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


# The append-only file is rewritten once it reaches this size (and has doubled since the last rewrite).
# A bet writes about 1 KB to it, so Redis's default of 64 MB meant a rewrite every 20 s at 3,000 bets/s,
# and each one (a forked child writing the data set, its fsyncs beside the ledger's) held the bet path's
# p99 at 200-350 ms for a second or two (docs/benchmarks.md). At 512 MB it is every ~3 minutes at that
# rate; a restart reads the file at about 100 MB/s, so ~5 s at the most (deploy/redis/redis.conf too).
AOF_REWRITE_MIN_SIZE = "512mb"


def private_redis(data_dir: Path) -> tuple[ChildSpec, str]:
    """A redis-server of our own: append-only file in the data dir, never evicts, local only."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise LauncherError(REDIS_MISSING)
    redis_dir = (data_dir / "redis").resolve()
    redis_dir.mkdir(parents=True, exist_ok=True)
    sock = data_dir.resolve() / "redis.sock"
    argv = [binary, "--bind", "127.0.0.1", "--dir", str(redis_dir), "--daemonize", "no"]
    argv += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
    argv += ["--auto-aof-rewrite-min-size", AOF_REWRITE_MIN_SIZE]
    argv += ["--maxmemory-policy", "noeviction", "--loglevel", "notice"]
    argv += ["--logfile", str(redis_dir / "redis.log")]
    if len(str(sock)) <= UNIX_SOCKET_MAX_PATH:
        argv += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
        url = f"unix://{sock}"
    else:
        port = free_port()
        argv += ["--port", str(port)]
        url = f"redis://127.0.0.1:{port}/0"
    return ChildSpec(name="redis", argv=argv), url


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise LauncherError(f"{what} did not become ready within {timeout_s:.0f} s")


def _child_argv(role: str, settings: Settings) -> list[str]:
    return [sys.executable, "-m", "taptrade", role, "--data-dir", str(settings.data_dir)]


def http_answers(url: str, timeout_s: float = 1.0) -> bool:
    try:
        # Only ever our own children's http://127.0.0.1 health URLs.
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # nosec B310
            return int(response.status) < 500
    except (OSError, ValueError):
        return False


def run_launcher(settings: Settings) -> None:
    """Bring everything up, supervise it, and take it all down on SIGINT/SIGTERM."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    specs: list[ChildSpec] = []
    url = settings.redis_url
    if url and redis_answers(url):
        log.info("redis_external", url=redacted_url(url))
    else:
        if url:
            log.warning("redis_unreachable", url=redacted_url(url), action="starting a private redis-server")
        redis_spec, url = private_redis(data_dir)
        specs.append(redis_spec)
    (data_dir / REDIS_URL_FILE).write_text(url + "\n")
    child_env = {"TAPTRADE_REDIS_URL": url, "TAPTRADE_PORT": str(settings.port)}
    specs.append(ChildSpec("ledger", _child_argv("ledger", settings), child_env))
    child_env["TAPTRADE_FEED"] = settings.feed
    specs.append(ChildSpec("feed", _child_argv("feed", settings), child_env))
    specs.append(ChildSpec("gateway", _child_argv("gateway", settings), child_env))
    base_url = f"http://{settings.host}:{settings.port}"

    stop = StopSignal().install()
    supervisor = Supervisor(specs, settings.restart_backoff_max_s)
    try:
        for child in supervisor.children:
            child.start()
            if child.spec.name == "redis":
                wait_until(lambda: redis_answers(url), 10.0, "redis-server")
        wait_until(lambda: http_answers(base_url + "/api/healthz"), 30.0, "the gateway")
        log.info("launcher_ready", url=base_url, data_dir=str(data_dir.resolve()), redis=redacted_url(url))
        print(
            f"Tap Trading is running at {base_url} (data in {data_dir.resolve()}). Ctrl-C stops it.",
            flush=True,
        )
        while not stop.wait(0.2):
            supervisor.poll_once()
        log.info("launcher_stopping", signal=stop.received)
    finally:
        supervisor.stop_all()
        log.info("launcher_stopped")
