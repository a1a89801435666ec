"""`taptrade run`: private Redis when none is configured, the ledger supervised and restarted, a clean
stop on Ctrl-C with no process left behind, and a restart that continues from the data dir."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from taptrade.launcher import ChildSpec, Supervisor
from tests.support import REPO, address, free_port, wait_for

OWNER = address(0xFEED)


def processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


def launcher_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPTRADE_")}
    env["TAPTRADE_LEDGER_METRICS_PORT"] = "0"
    env["TAPTRADE_FEED_METRICS_PORT"] = "0"
    return env


def start(
    data_dir: Path, log: Path, port: int | None = None, *options: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """`taptrade run` with `options`; `env` adds settings to the launcher's environment."""
    port = port or free_port()
    argv = [sys.executable, "-m", "taptrade", "run", "--data-dir", str(data_dir), "--port", str(port)]
    argv += options
    with log.open("a") as err:
        proc = subprocess.Popen(
            argv, env={**launcher_env(), **(env or {})}, stdout=subprocess.PIPE, stderr=err, text=True
        )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "Tap Trading is running" not in line:
        interrupt(proc)
        raise AssertionError(f"launcher did not come up: {line!r}\n{log.read_text()}")
    return proc


def hold_breaker_closed(data_dir: Path) -> None:
    """The operator opens betting at once (a new feed keeps it suspended for its first 30 s)."""
    breaker = [sys.executable, "-m", "taptrade", "breaker", "closed", "--data-dir", str(data_dir)]
    assert subprocess.run(breaker, env=launcher_env(), timeout=30, check=False).returncode == 0


def interrupt(proc: subprocess.Popen[str]) -> int:
    """Ctrl-C, as a person at the terminal would."""
    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    finally:
        assert proc.stdout is not None
        proc.stdout.close()


def admin(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "taptrade", "admin", *args, "--data-dir", str(data_dir)]
    return subprocess.run(argv, env=launcher_env(), capture_output=True, text=True, timeout=60, check=False)


def ledger_pid(data_dir: Path) -> int:
    pids = [
        p for p in processes_mentioning(str(data_dir)) if b"ledger" in Path(f"/proc/{p}/cmdline").read_bytes()
    ]
    assert len(pids) == 1, pids
    return pids[0]


@pytest.mark.slow
def test_run_supervises_stops_cleanly_and_continues_after_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "launcher.log"
    proc = start(data_dir, log)
    try:
        url = (data_dir / "redis.url").read_text().strip()
        assert url.startswith(("unix://", "redis://127.0.0.1:"))
        with redis.Redis.from_url(url) as client:  # its own Redis: durable, rewritten rarely
            config = client.config_get("*")
        assert (config["appendonly"], config["appendfsync"]) == ("yes", "everysec")
        assert int(config["auto-aof-rewrite-min-size"]) == 512 * 1024**2
        credit = admin(data_dir, "credit", OWNER, "2500", "--timeout-s", "15")
        assert credit.returncode == 0, credit.stderr + log.read_text()

        # A ledger that dies is restarted by the launcher.
        os.kill(ledger_pid(data_dir), signal.SIGKILL)
        wait_for(lambda: "child_exited" in log.read_text(), 10, "crash noticed")
        again = admin(data_dir, "credit", OWNER, "500", "--timeout-s", "15")
        assert again.returncode == 0, again.stderr + log.read_text()
    finally:
        assert interrupt(proc) == 0, log.read_text()
    assert processes_mentioning(str(data_dir)) == [], "children outlived the launcher"

    # Same data dir again: money and Redis state are still there.
    proc = start(data_dir, log)
    try:
        history = admin(data_dir, "ledger", OWNER)
        assert [json.loads(line)["balance_after"] for line in history.stdout.splitlines()] == [3000, 2500]
        assert admin(data_dir, "withdraw", OWNER, "3000", "--timeout-s", "15").returncode == 0
    finally:
        assert interrupt(proc) == 0
    time.sleep(0.2)
    assert processes_mentioning(str(data_dir)) == []


async def first_messages(url: str, kinds: set[str]) -> dict[str, dict[str, Any]]:
    from websockets.asyncio.client import connect

    seen: dict[str, dict[str, Any]] = {}
    async with connect(url, max_size=2**22) as ws:
        while not kinds <= set(seen):
            message = json.loads(await asyncio.wait_for(ws.recv(), 10))
            seen.setdefault(message["type"], message)
    return seen


def test_without_redis_server_it_says_how_to_get_one(tmp_path: Path) -> None:
    env = {**launcher_env(), "PATH": str(tmp_path)}  # no redis-server anywhere on PATH
    argv = [sys.executable, "-m", "taptrade", "run", "--data-dir", str(tmp_path / "d")]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    assert "apt-get install -y redis-server" in result.stderr
    assert "TAPTRADE_REDIS_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_taptrade_run_streams_simulated_prices_and_the_bot_bets(tmp_path: Path) -> None:
    """The simulated feed quotes; the operator holds the breaker closed so betting opens at once (a new feed
    keeps betting suspended until it has ticked for 30 s)."""
    import httpx
    from eth_account import Account

    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "launcher.log"
    proc = start(data_dir, log, port)
    try:
        hold_breaker_closed(data_dir)

        def betting_open() -> bool:
            health = httpx.get(f"http://127.0.0.1:{port}/api/healthz", timeout=5).json()
            quoted = httpx.get(f"http://127.0.0.1:{port}/api/quotes", timeout=5).status_code == 200
            return quoted and health["checks"]["circuit_breaker"] == {
                "state": "closed",
                "mode": "forced_closed",
            }

        wait_for(betting_open, 15, "betting open by the operator")
        # The web app at `/` (built by `make web`, which `make test` runs first).
        assert (REPO / "web" / "dist" / "index.html").is_file(), "build the web app first: make web"
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert page.status_code == 200
        assert '<div id="root">' in page.text
        streamed = asyncio.run(first_messages(f"ws://127.0.0.1:{port}/ws", {"hello", "price", "quotes"}))
        assert streamed["hello"]["grid"]["feed"] == "simulated"
        assert streamed["price"]["price"] > 0
        assert any(m is not None for row in streamed["quotes"]["multipliers"] for m in row)
        key = "0x" + bytes(Account.create().key).hex()
        bot = [
            sys.executable,
            str(REPO / "examples" / "bot.py"),
            "--url",
            f"http://127.0.0.1:{port}",
            "--key",
            key,
        ]
        result = subprocess.run([*bot, "--faucet"], capture_output=True, text=True, timeout=60, check=False)
        assert result.returncode == 0, result.stdout + result.stderr + log.read_text()
        assert '"status":"confirmed"' in result.stdout
    finally:
        assert interrupt(proc) == 0


@pytest.mark.slow
def test_a_bet_through_taptrade_run_is_resolved_paid_and_in_history(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "launcher.log"
    proc = start(data_dir, log, port)
    try:
        hold_breaker_closed(data_dir)
        asyncio.run(bet_and_follow_it(port))
    finally:
        assert interrupt(proc) == 0


async def bet_and_follow_it(port: int) -> None:
    """Sign in, take the faucet, bet on the next placeable column, wait for it to resolve, check money."""
    import httpx

    from taptrade.config import load_settings
    from tests.gateway_support import Trader, bet_body, sign_in

    settings = load_settings(port=port)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        trader = Trader()
        await sign_in(http, settings, trader)
        assert (await http.post("/api/demo/faucet", headers=trader.headers())).status_code == 200
        for _ in range(100):  # until the operator's override has reached the gateway
            health = (await http.get("/api/healthz")).json()
            if health["checks"]["circuit_breaker"]["state"] == "closed":
                break
            await asyncio.sleep(0.2)
        price = (await http.get("/api/price")).json()["price"]
        column = int(time.time() * 1000) // 5000 + 2
        body = bet_body(trader, settings, column=column, row=price // 1000, amount=1000)
        placed = await http.post("/api/bets", json=body, headers=trader.headers())
        assert placed.status_code == 201, placed.text
        deadline = time.monotonic() + 40
        bet: dict[str, Any] = {}
        while time.monotonic() < deadline:
            bet = (await http.get(f"/api/bets/{body['bet_id']}", headers=trader.headers())).json()["bet"]
            if bet["status"] != "confirmed":
                break
            await asyncio.sleep(0.5)
        assert bet["status"] in ("won", "lost", "void"), bet
        assert bet["resolved_ms"] is not None
        me = (await http.get("/api/me", headers=trader.headers())).json()
        kinds = [
            e["kind"] for e in (await http.get("/api/ledger", headers=trader.headers())).json()["entries"]
        ]
        expected = {"won": 10_000 - 1000 + bet["payout"], "lost": 9000, "void": 10_000}[bet["status"]]
        assert me["balance"] == expected
        assert ("PAYOUT" in kinds) is (bet["status"] == "won")
        assert (await http.get(f"/api/columns/{column}")).json()["status"] in ("resolved", "void")
        history = (await http.get("/api/bets", headers=trader.headers())).json()["bets"]
        assert [b["bet_id"] for b in history] == [body["bet_id"]]


def test_a_crashing_child_is_restarted_with_backoff_up_to_the_configured_cap() -> None:
    supervisor = Supervisor([ChildSpec("crasher", [sys.executable, "-c", "raise SystemExit(3)"])], 1.0)
    child = supervisor.children[0]
    child.start()
    delays = []
    deadline = time.monotonic() + 20
    while len(delays) < 4 and time.monotonic() < deadline:
        restart_at = child.restart_at
        supervisor.poll_once()
        if child.restart_at is not None and child.restart_at != restart_at:
            delays.append(round(child.restart_at - time.monotonic(), 1))
        time.sleep(0.02)
    assert child.proc is not None
    child.proc.wait()
    assert delays == [0.5, 1.0, 1.0, 1.0]  # doubling from 0.5 s, held at the cap
