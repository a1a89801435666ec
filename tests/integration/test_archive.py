"""Archiving week files to a real S3-compatible server (moto in server mode, started here on a free port)
and to a directory: compressed, uploaded with STANDARD_IA, verified, recorded by a manifest, old local copies
purged; history answers 410 for weeks only the archive holds, and a restore brings them back to queries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import httpx
import pytest
import zstandard
from prometheus_client.parser import text_string_to_metric_families

from taptrade.archive.archiver import Archiver
from taptrade.archive.objectstore import DirectoryStore, ObjectStore, open_store
from taptrade.archive.packing import ArchiveError
from taptrade.config import Settings
from taptrade.gateway.history import ArchivedRange, History
from taptrade.ledger import db
from taptrade.ledger.integrity import check_everything
from taptrade.weeks import WEEK_MS, next_week, week_start_ms
from tests.gateway_support import GatewayThread, Trader, sign_in
from tests.support import S3_BUCKET as BUCKET
from tests.support import LedgerThread
from tests.week_world import ALICE, GRID, MISS, WIN, World

FIRST_WEEK = "2025-W40"
WEEKS = 6


def build_weeks(data_dir: Path, owner: str = ALICE) -> World:
    """`owner` deposits, bets and is settled once in each of six weeks; every week is rotated to a file."""
    world = World(data_dir, start_ms=week_start_ms(FIRST_WEEK) + 86_400_000)
    week = FIRST_WEEK
    for n in range(WEEKS):
        wednesday = week_start_ms(week) + 2 * 86_400_000
        world.at(wednesday).deposit(owner, 1000 + n)
        column = GRID.column_at(wednesday) + 3
        world.bet(owner, column, 100)
        world.resolve(column, WIN if n % 2 else MISS)
        week = next_week(week)
    world.at(week_start_ms(week) + 1000)
    while world.rotate_due() is not None:
        pass
    assert world.live("SELECT COUNT(*) FROM weeks WHERE file IS NOT NULL") == [(WEEKS,)]
    return world


def weeks_list() -> list[str]:
    out, week = [], FIRST_WEEK
    for _ in range(WEEKS):
        out.append(week)
        week = next_week(week)
    return out


def all_ledger_ids(history: History) -> list[int]:
    account = history.account(ALICE)
    assert account is not None
    return [e.id for e in history.ledger(account.user_id, before_id=None, limit=1000)]


def archiver(world: World, store: ObjectStore, data_dir: Path) -> Archiver:
    metrics_file = data_dir / "metrics" / "archiver.prom"
    return Archiver(live_db=world.live_path, weeks_dir=world.weeks_dir, store=store,
                    clock=world.clock, keep_local=4, metrics_file=metrics_file)  # fmt: skip


def archive_timestamp(data_dir: Path) -> float:
    text = (data_dir / "metrics" / "archiver.prom").read_text()
    (family,) = text_string_to_metric_families(text)
    assert family.name == "last_successful_archive_timestamp"
    return float(family.samples[0].value)


def test_weeks_archive_to_s3_and_history_answers_archived_until_restored(tmp_path: Path, s3_env: str) -> None:
    world = build_weeks(tmp_path)
    history = History(world.live_path, world.weeks_dir)
    everything = all_ledger_ids(history)
    assert len(everything) == 2 * WEEKS + WEEKS // 2  # deposits and stakes, and a payout every other week

    store = open_store(f"s3://{BUCKET}/prod/weeks", s3_endpoint_url=s3_env)
    world.clock.set(world.clock.now_ms() + WEEK_MS)
    report = archiver(world, store, tmp_path).run()
    assert report.ok, report.failed
    assert report.uploaded == weeks_list()
    assert report.purged == weeks_list()[:2]  # four weeks stay local
    assert sorted(p.stem for p in world.weeks_dir.glob("*.db")) == weeks_list()[2:]

    s3 = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")
    head = s3.head_object(Bucket=BUCKET, Key=f"prod/weeks/{FIRST_WEEK}.db.zst")
    assert head["StorageClass"] == "STANDARD_IA"
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"prod/weeks/{FIRST_WEEK}.json")["Body"].read())
    assert manifest["size_bytes"] == head["ContentLength"]
    assert manifest["raw_size_bytes"] > manifest["size_bytes"]
    assert archive_timestamp(tmp_path) == world.clock.now_ms() / 1000

    # A second run has nothing to do and still succeeds.
    again = archiver(world, store, tmp_path).run()
    assert (again.ok, again.uploaded, again.already, again.purged) == (True, [], weeks_list(), [])

    # Recent pages are whole; a page reaching the purged weeks is refused, not silently short.
    account = history.account(ALICE)
    assert account is not None
    recent = history.ledger(account.user_id, before_id=None, limit=5)
    assert [e.id for e in recent] == everything[:5]
    with pytest.raises(ArchivedRange) as refused:
        history.ledger(account.user_id, before_id=None, limit=1000)
    assert sorted(refused.value.weeks) == weeks_list()[:2]
    with pytest.raises(ArchivedRange):
        history.bets(account.user_id, status=None, column_from=None, column_to=None, before=None, limit=100)
    assert history.bets(account.user_id, status="confirmed", column_from=None, column_to=None,
                        before=None, limit=100) == []  # fmt: skip

    tool = archiver(world, store, tmp_path)
    for week in weeks_list()[:2]:
        tool.restore(week)
    assert all_ledger_ids(history) == everything
    bets = history.bets(
        account.user_id, status=None, column_from=None, column_to=None, before=None, limit=100
    )
    assert len(bets) == WEEKS
    assert [b.column for b in bets] == sorted((b.column for b in bets), reverse=True)
    assert check_everything(db.open_reader(world.live_path), world.weeks_dir).ok

    listing = {entry.week: entry for entry in tool.listing()}
    assert set(listing) == set(weeks_list())
    assert all(e.rotated and e.archived is not None and e.local_bytes for e in listing.values())
    # Restored weeks are kept for a while, not purged by the next run.
    assert archiver(world, store, tmp_path).run().purged == []


def test_a_tampered_archive_is_refused_on_restore_and_a_changed_local_file_is_never_purged(
    tmp_path: Path,
) -> None:
    world = build_weeks(tmp_path / "data")
    store = DirectoryStore(tmp_path / "archive")
    first = weeks_list()[0]
    original = (world.weeks_dir / f"{first}.db").read_bytes()
    (world.weeks_dir / f"{first}.db").write_bytes(original + b"\0")  # a local copy that is not what went up
    tool = archiver(world, store, tmp_path)
    report = tool.upload(first, world.weeks_dir / f"{first}.db")
    (world.weeks_dir / f"{first}.db").write_bytes(original)
    result = tool.run()
    assert not result.ok
    assert first in result.failed
    assert (world.weeks_dir / f"{first}.db").is_file(), "a week whose archive does not match stays local"
    assert not (tmp_path / "metrics" / "archiver.prom").exists(), "a failed run is not a success"
    assert report.raw_size_bytes == len(original) + 1

    second = weeks_list()[1]
    packed = tmp_path / "archive" / f"{second}.db.zst"
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    packed.write_bytes(bytes(data))
    assert second in result.purged
    with pytest.raises(ArchiveError, match="sha256"):
        tool.restore(second)
    assert not (world.weeks_dir / f"{second}.db").exists()


def test_archive_commands_from_the_cli_with_the_default_directory_store(tmp_path: Path) -> None:
    world = build_weeks(tmp_path)
    world.conn.close()
    env = {**os.environ, "TAPTRADE_DATA_DIR": str(tmp_path), "TAPTRADE_ARCHIVE_KEEP_LOCAL_WEEKS": "1"}

    def taptrade(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "taptrade", "archive", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=60)

    ran = taptrade("run")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["purged"] == weeks_list()[:-1]
    stored = sorted(p.name for p in (tmp_path / "archive").iterdir())
    assert stored == sorted([f"{w}.db.zst" for w in weeks_list()] + [f"{w}.json" for w in weeks_list()])
    with (tmp_path / "archive" / f"{FIRST_WEEK}.db.zst").open("rb") as f:
        assert zstandard.ZstdDecompressor().stream_reader(f).read(16) == b"SQLite format 3\0"

    listed = [json.loads(line) for line in taptrade("list").stdout.splitlines()]
    assert [(e["week"], e["local_bytes"] is not None) for e in listed] == [
        (w, w == weeks_list()[-1]) for w in weeks_list()
    ]
    restored = taptrade("restore", FIRST_WEEK)
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "weeks" / f"{FIRST_WEEK}.db").is_file()
    bad = taptrade("restore", "2025-W99")
    assert bad.returncode != 0
    assert "not a week" in bad.stderr
    missing = taptrade("restore", "2020-W01")
    assert missing.returncode == 1
    assert "not in the archive" in missing.stderr
    assert "Traceback" not in missing.stderr + bad.stderr


async def test_the_api_answers_410_archived_for_history_only_the_archive_holds(settings: Settings) -> None:
    trader = Trader()
    world = build_weeks(settings.data_dir, owner=trader.address)
    oldest_bet = world.week(FIRST_WEEK, "SELECT bet_id FROM bets")[0][0]
    world.conn.close()
    world.clock.set(world.clock.now_ms() + WEEK_MS)
    tool = archiver(world, DirectoryStore(settings.data_dir / "archive"), settings.data_dir)
    assert tool.run().purged == weeks_list()[:2]

    with LedgerThread(settings), GatewayThread(settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            await sign_in(client, settings, trader)
            auth = {"Authorization": f"Bearer {trader.token}"}
            recent = await client.get("/api/ledger", params={"limit": 5}, headers=auth)
            assert recent.status_code == 200
            assert len(recent.json()["entries"]) == 5
            for path in ("/api/ledger", "/api/bets"):
                whole = await client.get(path, params={"limit": 100}, headers=auth)
                assert whole.status_code == 410, whole.text
                assert whole.json()["error"]["code"] == "archived"
                assert FIRST_WEEK in whole.json()["error"]["message"]
            open_only = await client.get("/api/bets", params={"status": "confirmed"}, headers=auth)
            assert open_only.json() == {"bets": [], "next_cursor": None}

            for week in weeks_list()[:2]:
                tool.restore(week)
            whole = await client.get("/api/ledger", params={"limit": 100}, headers=auth)
            assert whole.status_code == 200
            assert len(whole.json()["entries"]) == 2 * WEEKS + WEEKS // 2
            bets = await client.get("/api/bets", params={"limit": 100}, headers=auth)
            assert len(bets.json()["bets"]) == WEEKS
            one = await client.get(f"/api/bets/{uuid.UUID(bytes=oldest_bet)}", headers=auth)  # type: ignore[arg-type]
            assert one.status_code == 200
            assert one.json()["bet"]["status"] == "lost"
