"""`taptrade archive run|list|restore WEEK` (DESIGN §7).

run: every week the ledger has rotated into a file (live.db's `weeks`, read-only: the archiver never writes
live.db) and that the store does not hold yet is zstd-compressed, uploaded, read back and checked (size and
sha256), and only then recorded by a manifest beside it in the store (`YYYY-Www.json`). Local week files
beyond the newest `keep_local` weeks are purged once the store's manifest matches the local file's sha256;
a restored week stays for `RESTORED_KEEP_MS`. A run with no failure writes `last_successful_archive_timestamp`
to a Prometheus text file (`DATA_DIR/metrics/archiver.prom`, for the node exporter's textfile collector).

restore: download, check the compressed and the decompressed sha256 against the manifest, and put the file
back in `weeks/`, where history reads find it on their next request.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import msgspec

from taptrade.archive.objectstore import ObjectStore, file_chunks, sha256_of
from taptrade.archive.packing import ArchiveError, Packed, download_packed, upload_packed
from taptrade.clock import DAY_MS, Clock
from taptrade.ledger import db
from taptrade.obs.logging import get_logger
from taptrade.obs.metrics import write_job_metrics
from taptrade.weeks import is_week_name, local_weeks, week_file_path

log = get_logger(__name__)

ZSTD_LEVEL = 9
RESTORED_KEEP_MS = 7 * DAY_MS


class Manifest(msgspec.Struct, frozen=True):
    week: str
    object: str
    size_bytes: int
    sha256: str
    raw_size_bytes: int
    raw_sha256: str
    zstd_level: int
    uploaded_ms: int


@dataclass
class RunReport:
    uploaded: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, **asdict(self)}


@dataclass(frozen=True)
class WeekListing:
    week: str
    rotated: bool
    local_bytes: int | None
    archived: Manifest | None

    def as_dict(self) -> dict[str, object]:
        archived = msgspec.to_builtins(self.archived) if self.archived else None
        return {
            "week": self.week,
            "rotated": self.rotated,
            "local_bytes": self.local_bytes,
            "archived": archived,
        }


def object_name(week: str) -> str:
    return f"{week}.db.zst"


def manifest_name(week: str) -> str:
    return f"{week}.json"


class Archiver:
    def __init__(
        self,
        *,
        live_db: Path,
        weeks_dir: Path,
        store: ObjectStore,
        clock: Clock,
        keep_local: int = 4,
        metrics_file: Path | None = None,
        zstd_level: int = ZSTD_LEVEL,
    ) -> None:
        self._live_db = live_db
        self._weeks_dir = weeks_dir
        self._store = store
        self._clock = clock
        self._keep_local = keep_local
        self._metrics_file = metrics_file
        self._zstd_level = zstd_level

    # --- run ------------------------------------------------------------------------------------

    def run(self) -> RunReport:
        report = RunReport()
        for week in self.rotated_weeks():
            path = week_file_path(self._weeks_dir, week)
            if self.manifest(week) is not None:
                report.already.append(week)
            elif path.is_file():
                try:
                    self.upload(week, path)
                    report.uploaded.append(week)
                except Exception as exc:
                    log.exception("archive_upload_failed", week=week)
                    report.failed[week] = f"{type(exc).__name__}: {exc}"
            else:
                report.failed[week] = "the week file is neither local nor archived"
        self._purge(report)
        if report.ok:
            self._record_success()
        log.info("archive_run", **report.as_dict())
        return report

    def rotated_weeks(self) -> list[str]:
        """Weeks the ledger has committed as rotated into a file (never a half-written one)."""
        conn = db.open_reader(self._live_db)
        try:
            rows = conn.execute("SELECT week FROM weeks WHERE file IS NOT NULL ORDER BY week").fetchall()
        finally:
            conn.close()
        return [week for (week,) in rows]

    def upload(self, week: str, path: Path) -> Manifest:
        packed = upload_packed(self._store, object_name(week), path, level=self._zstd_level,
                               scratch_dir=self._weeks_dir)  # fmt: skip
        manifest = Manifest(week, object_name(week), packed.size_bytes, packed.sha256, packed.raw_size_bytes,
                            packed.raw_sha256, self._zstd_level, self._clock.now_ms())  # fmt: skip
        self._store.put_bytes(manifest_name(week), msgspec.json.encode(manifest))
        log.info("week_archived", **msgspec.to_builtins(manifest), store=self._store.url)
        return manifest

    def manifest(self, week: str) -> Manifest | None:
        data = self._store.get_bytes(manifest_name(week))
        return None if data is None else msgspec.json.decode(data, type=Manifest)

    def _purge(self, report: RunReport) -> None:
        local = local_weeks(self._weeks_dir)
        keep = set(local[-self._keep_local :]) if self._keep_local > 0 else set()
        now_ms = self._clock.now_ms()
        for week in local:
            if week in keep or now_ms - self._restored_ms(week) < RESTORED_KEEP_MS:
                continue
            manifest = self.manifest(week)
            path = week_file_path(self._weeks_dir, week)
            if manifest is None or manifest.raw_sha256 != sha256_of(file_chunks(path)):
                report.failed.setdefault(week, "not purged: the store has no matching archived copy")
                continue
            path.unlink()
            self._restored_marker(week).unlink(missing_ok=True)
            report.purged.append(week)

    def _record_success(self) -> None:
        if self._metrics_file is None:
            return
        documentation = "Unix time of the last archive run that left every rotated week archived, verified."
        now_s = self._clock.now_ms() / 1000
        write_job_metrics(self._metrics_file, {"last_successful_archive_timestamp": (documentation, now_s)})

    # --- list and restore ------------------------------------------------------------------------

    def listing(self) -> list[WeekListing]:
        rotated = set(self.rotated_weeks()) if self._live_db.is_file() else set()
        # Only week manifests: the backups may share the store (under their own prefix).
        in_store = {w for n in self._store.names() if is_week_name(w := n.removesuffix(".json")) and n != w}
        local = set(local_weeks(self._weeks_dir))
        out = []
        for week in sorted(rotated | in_store | local):
            path = week_file_path(self._weeks_dir, week)
            out.append(WeekListing(week, week in rotated, path.stat().st_size if path.is_file() else None,
                                   self.manifest(week) if week in in_store else None))  # fmt: skip
        return out

    def restore(self, week: str) -> Path:
        manifest = self.manifest(week)
        if manifest is None:
            raise ArchiveError(f"{week} is not in the archive at {self._store.url}")
        path = week_file_path(self._weeks_dir, week)
        expected = Packed(manifest.size_bytes, manifest.sha256, manifest.raw_size_bytes, manifest.raw_sha256)
        download_packed(self._store, manifest.object, expected, path)
        self._restored_marker(week).write_text(json.dumps({"restored_ms": self._clock.now_ms()}))
        log.info("week_restored", week=week, path=str(path), store=self._store.url)
        return path

    def _restored_marker(self, week: str) -> Path:
        return self._weeks_dir / f"{week}.restored"

    def _restored_ms(self, week: str) -> int:
        marker = self._restored_marker(week)
        if not marker.is_file():
            return 0
        return int(json.loads(marker.read_text()).get("restored_ms", 0))
