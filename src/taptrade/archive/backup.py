"""Hourly online backups of live.db to the object store (`taptrade backup run|list|restore`).

run: SQLite's online backup API copies live.db through a read-only connection in a single step, so the copy
is one consistent snapshot taken while the ledger goes on writing (WAL: a reader never blocks the writer).
The copy is checked before it leaves the machine (SQLite's integrity_check and the money invariants),
compressed, uploaded, read back and verified (archive.packing), and recorded by a manifest
`live-YYYYMMDDTHHMMSSZ.json` beside it. A backup whose money does not add up is still kept (it is the
evidence), but the run fails and the success metric is not written. Retention: every backup of the last
`keep_hours`, then the first of each UTC day for `keep_days`.

restore: download, check both sha256s and SQLite's integrity_check, write the file to a path of the
operator's choosing (live.db only with --force, with the ledger stopped: a stale WAL beside it is removed,
since applying it to another database would corrupt it), and run the money invariants on the result.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from taptrade.archive.objectstore import ObjectStore
from taptrade.archive.packing import ArchiveError, Packed, download_packed, upload_packed
from taptrade.clock import DAY_MS, HOUR_MS, Clock, utc_day
from taptrade.ledger import db
from taptrade.ledger.integrity import IntegrityReport, check_integrity
from taptrade.obs.logging import get_logger
from taptrade.obs.metrics import write_job_metrics

log = get_logger(__name__)

ZSTD_LEVEL = 3  # hourly, so fast; the weeks kept for ever get level 9
NAME_RE = re.compile(r"live-\d{8}T\d{6}Z")


class BackupManifest(msgspec.Struct, frozen=True):
    name: str
    object: str
    taken_ms: int
    size_bytes: int
    sha256: str
    raw_size_bytes: int
    raw_sha256: str
    users: int
    ledger_rows: int
    bets: int
    integrity_ok: bool

    @property
    def packed(self) -> Packed:
        return Packed(self.size_bytes, self.sha256, self.raw_size_bytes, self.raw_sha256)


def backup_name(taken_ms: int) -> str:
    return "live-" + datetime.fromtimestamp(taken_ms / 1000, tz=UTC).strftime("%Y%m%dT%H%M%SZ")


def keep(names_by_ms: dict[str, int], now_ms: int, keep_hours: int, keep_days: int) -> set[str]:
    """Which backups retention keeps: all within `keep_hours`, and each UTC day's first within `keep_days`."""
    kept = {name for name, ms in names_by_ms.items() if now_ms - ms < keep_hours * HOUR_MS}
    first_of_day: dict[int, tuple[int, str]] = {}
    for name, ms in names_by_ms.items():
        if now_ms - ms < keep_days * DAY_MS:
            day = utc_day(ms)
            first_of_day[day] = min(first_of_day.get(day, (ms, name)), (ms, name))
    return kept | {name for _, name in first_of_day.values()}


class Backups:
    def __init__(
        self,
        *,
        live_db: Path,
        store: ObjectStore,
        clock: Clock,
        scratch_dir: Path,
        keep_hours: int = 48,
        keep_days: int = 35,
        metrics_file: Path | None = None,
    ) -> None:
        self._live_db = live_db
        self._store = store
        self._clock = clock
        self._scratch_dir = scratch_dir
        self._keep_hours = keep_hours
        self._keep_days = keep_days
        self._metrics_file = metrics_file

    # --- run -------------------------------------------------------------------------------------

    def run(self) -> tuple[BackupManifest, list[str]]:
        """Take, check, upload and record one backup; then apply retention. Returns the manifest and the
        backups deleted. Raises ArchiveError if the upload cannot be verified or the money does not add up."""
        taken_ms = self._clock.now_ms()
        name = backup_name(taken_ms)
        self._scratch_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self._scratch_dir) as scratch:
            copy = Path(scratch) / "live.db"
            self._snapshot(copy)
            report = _check(copy)
            packed = upload_packed(
                self._store, f"{name}.db.zst", copy, level=ZSTD_LEVEL, scratch_dir=Path(scratch)
            )
        manifest = BackupManifest(
            name=name, object=f"{name}.db.zst", taken_ms=taken_ms, size_bytes=packed.size_bytes,
            sha256=packed.sha256, raw_size_bytes=packed.raw_size_bytes, raw_sha256=packed.raw_sha256,
            users=report.users, ledger_rows=report.ledger_rows, bets=report.bets, integrity_ok=report.ok,
        )  # fmt: skip
        self._store.put_bytes(f"{name}.json", msgspec.json.encode(manifest))
        log.info("backup_taken", **msgspec.to_builtins(manifest), store=self._store.url)
        if not report.ok:
            raise ArchiveError(
                f"{name} was uploaded, but live.db has {report.violation_count} integrity violation(s):"
                " run `taptrade integrity`"
            )
        deleted = self.prune()
        if self._metrics_file is not None:
            documentation = "Unix time of the last backup of live.db uploaded, verified and clean."
            write_job_metrics(
                self._metrics_file, {"last_successful_backup_timestamp": (documentation, taken_ms / 1000)}
            )
        return manifest, deleted

    def _snapshot(self, dest: Path) -> None:
        source = db.open_reader(self._live_db)
        target = sqlite3.connect(dest)
        try:
            source.backup(target)  # pages=-1: one step, one read transaction, one snapshot
            # A standalone file: no WAL to carry around (the copy is a rollback-journal database).
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
            source.close()

    def prune(self) -> list[str]:
        manifests = self.listing()
        kept = keep({m.name: m.taken_ms for m in manifests}, self._clock.now_ms(), self._keep_hours,
                    self._keep_days)  # fmt: skip
        deleted = []
        for manifest in manifests:
            if manifest.name in kept:
                continue
            # The manifest first: a backup without one is never listed, so never half-restored.
            self._store.delete(f"{manifest.name}.json")
            self._store.delete(manifest.object)
            deleted.append(manifest.name)
        if deleted:
            log.info("backups_pruned", names=deleted)
        return deleted

    # --- list and restore ------------------------------------------------------------------------

    def listing(self) -> list[BackupManifest]:
        manifests = []
        for name in self._store.names():
            if name.endswith(".json") and NAME_RE.fullmatch(name.removesuffix(".json")):
                data = self._store.get_bytes(name)
                if data is not None:
                    manifests.append(msgspec.json.decode(data, type=BackupManifest))
        return sorted(manifests, key=lambda m: m.taken_ms)

    def manifest(self, name: str) -> BackupManifest:
        if name == "latest":
            listed = self.listing()
            if not listed:
                raise ArchiveError(f"no backups in {self._store.url}")
            return listed[-1]
        data = self._store.get_bytes(f"{name}.json") if NAME_RE.fullmatch(name) else None
        if data is None:
            raise ArchiveError(f"no backup named {name!r} in {self._store.url} (see `taptrade backup list`)")
        return msgspec.json.decode(data, type=BackupManifest)

    def restore(
        self, name: str, dest: Path, *, force: bool = False
    ) -> tuple[BackupManifest, IntegrityReport]:
        manifest = self.manifest(name)
        if dest.exists() and not force:
            raise ArchiveError(f"{dest} exists; choose another path, or stop the ledger and use --force")
        download_packed(self._store, manifest.object, manifest.packed, dest)
        for stale in (Path(f"{dest}-wal"), Path(f"{dest}-shm")):
            # The old database's WAL would be replayed into the restored one and corrupt it.
            if stale.exists():
                os.unlink(stale)
        report = _check(dest)
        log.info("backup_restored", name=manifest.name, dest=str(dest), integrity_ok=report.ok)
        return manifest, report


def _check(path: Path) -> IntegrityReport:
    conn = db.open_reader(path)
    try:
        return check_integrity(conn)
    finally:
        conn.close()
