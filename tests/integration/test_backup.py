"""Online backups of live.db: taken while the real ledger writes, uploaded to a real S3-compatible server
and verified, restored to a file whose money adds up; retention; a tampered object refused; the CLI round
trip with the default directory store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import boto3
import pytest
import redis

from taptrade import bus
from taptrade.archive.backup import Backups, backup_name, keep
from taptrade.archive.objectstore import ObjectStore, open_store
from taptrade.archive.packing import ArchiveError
from taptrade.clock import ManualClock, SystemClock
from taptrade.commands import Envelope, encode
from taptrade.config import Settings
from taptrade.ledger import db
from tests.support import S3_BUCKET, LedgerThread, address, deposit, wait_for

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def backups(
    settings: Settings, store: ObjectStore, clock: ManualClock | SystemClock | None = None
) -> Backups:
    return Backups(live_db=settings.live_db_path, store=store, clock=clock or SystemClock(),
                   scratch_dir=settings.data_dir / "tmp",
                   metrics_file=settings.metrics_dir / "backup.prom")  # fmt: skip


def ledger_rows(path: Path) -> list[tuple[object, ...]]:
    conn = db.open_reader(path)
    try:
        return conn.execute(
            "SELECT user_id, id, kind, amount_cents, balance_after_cents FROM ledger ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


def test_a_backup_taken_while_the_ledger_writes_restores_to_a_consistent_prefix(
    settings: Settings, s3_env: str, tmp_path: Path
) -> None:
    client = redis.Redis.from_url(settings.resolved_redis_url())
    store = open_store(
        f"s3://{S3_BUCKET}/backups-{uuid.uuid4()}", s3_endpoint_url=s3_env, storage_class="STANDARD"
    )
    stop = threading.Event()

    def keep_depositing() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            envelope = Envelope(
                request_id=str(n), reply_to=None, command=deposit(address(n % 50 + 1), 100 + n)
            )
            client.xadd(bus.INTAKE_STREAM, {"m": encode(envelope)})

    with LedgerThread(settings) as ledger:
        writer = threading.Thread(target=keep_depositing, daemon=True)
        writer.start()
        try:
            wait_for(lambda: ledger.service.commands_handled > 2000, 30, "ledger busy")
            manifest, pruned = backups(settings, store).run()
            handled_after_backup = ledger.service.commands_handled
        finally:
            stop.set()
            writer.join(timeout=10)

    assert pruned == []
    assert manifest.integrity_ok
    assert 2000 <= manifest.ledger_rows < handled_after_backup + 1
    head = boto3.client("s3", endpoint_url=s3_env).head_object(
        Bucket=S3_BUCKET, Key=store.url.split(f"{S3_BUCKET}/")[1] + manifest.object
    )
    assert head.get("StorageClass", "STANDARD") == "STANDARD"  # hourly copies are not infrequent-access

    restored = tmp_path / "restored.db"
    again, report = backups(settings, store).restore("latest", restored)
    assert again == manifest
    assert report.ok
    assert report.ledger_rows == manifest.ledger_rows
    # The snapshot is a prefix of what the ledger went on to write: same rows, same balances after.
    live = ledger_rows(settings.live_db_path)
    assert ledger_rows(restored) == live[: manifest.ledger_rows]
    assert "last_successful_backup_timestamp" in (settings.metrics_dir / "backup.prom").read_text()


def test_a_tampered_backup_is_refused_and_nothing_is_written(settings: Settings, tmp_path: Path) -> None:
    db.open_writer(settings.live_db_path).close()
    store = open_store(f"file://{tmp_path / 'store'}")
    manifest, _ = backups(settings, store).run()
    stored = tmp_path / "store" / manifest.object
    stored.write_bytes(stored.read_bytes()[:-1] + b"\0")
    dest = tmp_path / "restored.db"
    with pytest.raises(ArchiveError, match="sha256"):
        backups(settings, store).restore(manifest.name, dest)
    assert not dest.exists()


def test_a_ledger_whose_money_does_not_add_up_is_backed_up_but_the_run_fails(
    settings: Settings, tmp_path: Path
) -> None:
    from taptrade.grid import GridSpec
    from taptrade.ledger.store import LedgerRules, LedgerStore

    conn = db.open_writer(settings.live_db_path)
    LedgerStore(
        conn, LedgerRules(GridSpec(), frozenset({100}), 11_000, 1_000_000), SystemClock()
    ).apply_batch([deposit(address(7), 500)])
    conn.execute("UPDATE users SET balance_cents = 9999")
    conn.close()
    store = open_store(f"file://{tmp_path / 'store'}")
    with pytest.raises(ArchiveError, match="integrity"):
        backups(settings, store).run()
    [listed] = backups(settings, store).listing()
    assert not listed.integrity_ok
    assert not (settings.metrics_dir / "backup.prom").exists()  # the alert keeps firing


def test_retention_keeps_the_last_48_hours_and_one_a_day_for_35_days() -> None:
    now = 100 * DAY_MS + 12 * HOUR_MS
    taken = {f"b{h}": now - h * HOUR_MS for h in range(0, 40 * 24, 6)}  # every 6 h for 40 days
    kept = keep(taken, now, keep_hours=48, keep_days=35)
    recent = {name for name, ms in taken.items() if now - ms < 48 * HOUR_MS}
    assert recent <= kept
    older = {taken[name] // DAY_MS for name in kept - recent}
    assert len(older) == len(kept - recent)  # one a day
    assert min(now - taken[name] for name in kept) >= 0
    assert max(now - taken[name] for name in kept) < 35 * DAY_MS
    # Days 65 (from 18:00) to 100 are within 35 days of day 100 12:00; days 99 and 100 start inside the
    # last 48 hours, so the days kept for their first backup alone are 65 to 98.
    assert older == set(range(65, 99))


def test_prune_deletes_what_retention_drops(settings: Settings, tmp_path: Path) -> None:
    db.open_writer(settings.live_db_path).close()
    store = open_store(f"file://{tmp_path / 'store'}")
    clock = ManualClock(50 * DAY_MS)
    for _ in range(4):
        backups(settings, store, clock).run()
        clock.advance(30 * HOUR_MS)
    names = [m.name for m in backups(settings, store, clock).listing()]
    # 0, 30, 60 and 90 hours: the first is older than 48 h, but it is its day's first backup.
    assert names == [backup_name(50 * DAY_MS + 30 * HOUR_MS * n) for n in range(4)]
    clock.advance(40 * DAY_MS)
    backups(settings, store, clock).run()
    left = [m.name for m in backups(settings, store, clock).listing()]
    assert left == [backup_name(clock.now_ms())]
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == sorted(
        [f"{left[0]}.json", f"{left[0]}.db.zst"]
    )


def test_cli_backs_up_lists_and_restores_with_the_default_store(tmp_path: Path, redis_url: str) -> None:
    data_dir = tmp_path / "data"
    db.open_writer(data_dir / "live.db").close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPTRADE_")}

    def taptrade(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "taptrade", *args, "--data-dir", str(data_dir)]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)

    run = taptrade("backup", "run")
    assert run.returncode == 0, run.stderr
    name = json.loads(run.stdout)["backup"]["name"]
    assert (data_dir / "archive" / "backups" / f"{name}.db.zst").is_file()
    listed = taptrade("backup", "list")
    assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == [name]

    target = tmp_path / "restore" / "live.db"
    restored = taptrade("backup", "restore", "latest", "--to", str(target))
    assert restored.returncode == 0, restored.stderr
    assert json.loads(restored.stdout)["integrity"]["ok"] is True
    refused = taptrade("backup", "restore", name, "--to", str(target))
    assert refused.returncode == 1
    assert "--force" in refused.stderr
    stale_wal = Path(f"{target}-wal")
    stale_wal.write_bytes(b"an old database's log")
    forced = taptrade("backup", "restore", name, "--to", str(target), "--force")
    assert forced.returncode == 0, forced.stderr
    assert not stale_wal.exists()
    missing = taptrade("backup", "restore", "live-20000101T000000Z", "--to", str(tmp_path / "x.db"))
    assert missing.returncode == 1
    assert "no backup named" in missing.stderr
    assert "Traceback" not in missing.stderr
