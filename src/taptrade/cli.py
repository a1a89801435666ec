"""The `taptrade` command: one entry point for every process role and operator task.

Each subcommand builds its settings from flags, `TAPTRADE_*` variables and the optional TOML file
(see `config`), then hands over to the module that owns the behaviour.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import msgspec
from pydantic import ValidationError

from taptrade import admin
from taptrade.auth.eip191 import normalise_address
from taptrade.commands import Adjust, Command, Deposit, Withdraw
from taptrade.config import Settings, load_settings
from taptrade.money import format_cents
from taptrade.obs.logging import configure_logging

if TYPE_CHECKING:
    from taptrade.archive.archiver import Archiver
    from taptrade.archive.backup import Backups

F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    func = click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="TOML settings file (also TAPTRADE_CONFIG).",
    )(func)
    func = click.option("--redis-url", default=None, help="Redis URL (also TAPTRADE_REDIS_URL).")(func)
    func = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        help="Data directory (also TAPTRADE_DATA_DIR; default ./data).",
    )(func)
    return func


def settings_from(process: str | None = None, **flags: Any) -> Settings:
    config_file = flags.pop("config_file", None)
    try:
        settings = load_settings(config_file, **flags)
    except (ValidationError, FileNotFoundError) as exc:
        raise click.ClickException(f"invalid settings: {exc}") from exc
    configure_logging(settings.log_level, process)
    return settings


@click.group()
@click.version_option(package_name="taptrade")
def main() -> None:
    """Tap Trading: a live BTC price grid; one tap bets on a price band in a time window."""


@main.command()
@common_options
@click.option("--port", type=int, default=None, help="HTTP port (also TAPTRADE_PORT; default 8000).")
@click.option("--feed", "feed", default=None, help="Price source (default: simulated in demo mode).")
def run(**flags: Any) -> None:
    """Start everything: Redis (private if none is reachable), ledger, feed, gateway; supervised."""
    from taptrade.launcher import LauncherError, run_launcher

    settings = settings_from("launcher", **flags)
    try:
        run_launcher(settings)
    except LauncherError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@common_options
def ledger(**flags: Any) -> None:
    """Run the ledger: the single writer of live.db."""
    from taptrade.ledger.app import run_ledger

    run_ledger(settings_from("ledger", **flags))


@main.command()
@common_options
@click.option("--port", type=int, default=None, help="HTTP port (also TAPTRADE_PORT; default 8000).")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Worker processes (default 2).")
@click.option("--host", default=None, help="Address to listen on (also TAPTRADE_HOST; default 127.0.0.1).")
def gateway(workers: int | None, **flags: Any) -> None:
    """Run the HTTP API: N workers, each with its own SO_REUSEPORT socket."""
    from taptrade.gateway.server import serve

    settings = settings_from("gateway", gateway_workers=workers, **flags)
    serve(settings, settings.gateway_workers)


@main.command()
@common_options
@click.option(
    "--source",
    "source",
    default=None,
    help="binance | coinbase | simulated | simulated:steady | replay:PATH[@SPEED]",
)
@click.option(
    "--seed", type=int, default=None, help="Seed of the simulated market (also TAPTRADE_FEED_SEED)."
)
def feed(source: str | None, seed: int | None, **flags: Any) -> None:
    """Run the price feed: ticks, 1 s bars, health and breaker, quote tables."""
    from taptrade.feed.app import make_source, run_feed

    settings = settings_from("feed", feed_seed=seed, feed=source, **flags)
    try:
        make_source(settings.feed, settings)  # fail fast on a bad --source
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--source") from exc
    run_feed(settings, settings.feed)


@main.command()
@common_options
@click.argument("mode", type=click.Choice(["open", "closed", "auto"]))
def breaker(mode: str, **flags: Any) -> None:
    """Override the circuit breaker: open (suspend betting), closed (keep betting open), auto."""
    import redis

    from taptrade.bus import BREAKER_OVERRIDE_KEY

    settings = settings_from(None, **flags)
    value = {"open": "forced_open", "closed": "forced_closed", "auto": "auto"}[mode]
    client = redis.Redis.from_url(settings.resolved_redis_url())
    try:
        client.set(BREAKER_OVERRIDE_KEY, value)
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis unreachable at {settings.resolved_redis_url()}: {exc}") from exc
    click.echo(f"breaker mode: {value} (the feed applies it within a second)")


@main.command()
@common_options
def integrity(**flags: Any) -> None:
    """Check the money invariants of live.db and the local week files; exit 1 on any violation."""
    from taptrade.ledger import db
    from taptrade.ledger.integrity import check_everything
    from taptrade.obs.metrics import write_job_metrics

    settings = settings_from("integrity", **flags)
    try:
        conn = db.open_reader(settings.live_db_path)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    report = check_everything(conn, settings.weeks_dir)
    write_job_metrics(
        settings.metrics_dir / "integrity.prom",
        {
            "integrity_drift_users": ("Users whose money does not add up (last integrity run).",
                                      report.drifted_users),
            "integrity_violations": ("Invariant violations found by the last integrity run.",
                                     report.violation_count),
            "integrity_last_run_timestamp": ("Unix time of the last integrity run.", time.time()),
        },
    )  # fmt: skip
    click.echo(json.dumps(report.as_dict(), indent=2))
    if not report.ok:
        click.echo(f"integrity: {report.violation_count} violation(s)", err=True)
        sys.exit(1)
    live = report.live
    click.echo(
        f"integrity: clean ({live.users} users, {live.ledger_rows} ledger rows in live.db;"
        f" {len(report.weeks)} week file(s) checked, {len(report.not_local)} only in cold storage)",
        err=True,
    )


@main.command()
@common_options
@click.argument("column", type=click.IntRange(min=0), required=False)
@click.option("--verify", is_flag=True, required=True, help="Recompute outcomes from the stored bars.")
@click.option("--all", "all_columns", is_flag=True, help="Every recorded column (instead of COLUMN).")
def resolve(column: int | None, verify: bool, all_columns: bool, **flags: Any) -> None:
    """Recompute recorded column outcomes from stored bars; exit 1 on any difference."""
    from taptrade.config import grid_spec
    from taptrade.ledger import db
    from taptrade.ledger.verify import verify_columns

    if (column is None) == (not all_columns):
        raise click.UsageError("give a COLUMN or --all")
    settings = settings_from("resolve", **flags)
    try:
        conn = db.open_reader(settings.live_db_path)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    report = verify_columns(conn, grid_spec(settings), column)
    for line in report.differences:
        click.echo(line)
    click.echo(
        f"resolve --verify: {report.checked} column(s) recomputed, {len(report.differences)} difference(s), "
        f"{len(report.unverifiable)} past the bar retention",
        err=True,
    )
    if not report.ok:
        sys.exit(1)


@main.group("admin")
def admin_group() -> None:
    """Operator money commands (through the ledger's intake) and ledger queries."""


def _address(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return normalise_address(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _command_id_option(func: F) -> F:
    func = click.option(
        "--timeout-s",
        type=click.FloatRange(0.1, 600),
        default=10.0,
        show_default=True,
        help="How long to wait for the ledger's answer.",
    )(func)
    return click.option(
        "--command-id",
        default=None,
        help="Idempotency key; reuse it to retry safely (default: a new UUID).",
    )(func)


def _submit(settings: Settings, command: Command, timeout_s: float) -> None:
    result = admin.submit(settings, command, timeout_s)
    if result.reply is None:
        click.echo(f"error: {result.error} (is the ledger running?)", err=True)
        sys.exit(2)
    reply = result.reply
    click.echo(msgspec.json.encode(reply).decode())
    if not reply.ok:
        click.echo(f"rejected: {reply.code}: {reply.message}", err=True)
        sys.exit(1)
    if reply.balance is not None:
        click.echo(f"balance now {format_cents(reply.balance)}", err=True)


@admin_group.command()
@common_options
@click.argument("address", callback=_address)
@click.argument("cents", type=click.IntRange(min=1))
@click.option("--reason", default=None)
@_command_id_option
def credit(
    address: str, cents: int, reason: str | None, command_id: str | None, timeout_s: float, **flags: Any
) -> None:
    """Credit CENTS to ADDRESS (a DEPOSIT)."""
    cmd = Deposit(command_id=command_id or str(uuid.uuid4()), address=address, amount=cents,
                  reason=reason)  # fmt: skip
    _submit(settings_from(None, **flags), cmd, timeout_s)


@admin_group.command()
@common_options
@click.argument("address", callback=_address)
@click.argument("cents", type=click.IntRange(min=1))
@click.option("--reason", default=None)
@_command_id_option
def withdraw(
    address: str, cents: int, reason: str | None, command_id: str | None, timeout_s: float, **flags: Any
) -> None:
    """Withdraw CENTS from ADDRESS (a WITHDRAWAL); refused if the balance is short."""
    cmd = Withdraw(command_id=command_id or str(uuid.uuid4()), address=address, amount=cents,
                   reason=reason)  # fmt: skip
    _submit(settings_from(None, **flags), cmd, timeout_s)


@admin_group.command(context_settings={"ignore_unknown_options": True})
@common_options
@click.argument("address", callback=_address)
@click.argument("cents", type=int)
@click.option("--reason", required=True, help="Why; kept in the ledger row.")
@_command_id_option
def adjust(
    address: str, cents: int, reason: str, command_id: str | None, timeout_s: float, **flags: Any
) -> None:
    """Correct ADDRESS's balance by CENTS (negative to take away), with a reason (an ADJUSTMENT)."""
    cmd = Adjust(command_id=command_id or str(uuid.uuid4()), address=address, amount=cents,
                 reason=reason)  # fmt: skip
    _submit(settings_from(None, **flags), cmd, timeout_s)


@admin_group.command("ledger")
@common_options
@click.argument("address", callback=_address)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def admin_ledger(address: str, limit: int, **flags: Any) -> None:
    """Show ADDRESS's ledger, newest first: every balance change with its balance_after."""
    from taptrade.gateway.history import ArchivedRange, History

    settings = settings_from(None, **flags)
    try:
        entries = admin.ledger_entries(History(settings.live_db_path, settings.weeks_dir), address, limit)
    except (FileNotFoundError, ArchivedRange) as exc:
        raise click.ClickException(str(exc)) from exc
    for entry in entries:
        click.echo(msgspec.json.encode(entry).decode())


@main.group("archive")
def archive_group() -> None:
    """Week files and the object store (DESIGN §7)."""


def _archiver(flags: dict[str, Any]) -> Archiver:
    from taptrade.archive.archiver import Archiver
    from taptrade.archive.objectstore import open_store
    from taptrade.clock import SystemClock

    settings = settings_from("archive", **flags)
    try:
        store = open_store(settings.archive_store_url, s3_endpoint_url=settings.archive_s3_endpoint_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    return Archiver(
        live_db=settings.live_db_path,
        weeks_dir=settings.weeks_dir,
        store=store,
        clock=SystemClock(),
        keep_local=settings.archive_keep_local_weeks,
        metrics_file=settings.metrics_dir / "archiver.prom",
    )


@archive_group.command("run")
@common_options
def archive_run(**flags: Any) -> None:
    """Compress, upload and verify every rotated week not archived yet; purge old local copies."""
    archiver = _archiver(flags)
    try:
        report = archiver.run()
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(report.as_dict(), indent=2))
    if not report.ok:
        click.echo(f"archive: {len(report.failed)} week(s) failed", err=True)
        sys.exit(1)


@archive_group.command("list")
@common_options
def archive_list(**flags: Any) -> None:
    """Every week: rotated by the ledger, kept locally, archived (with size and sha256)."""
    for listing in _archiver(flags).listing():
        click.echo(json.dumps(listing.as_dict()))


@archive_group.command("restore")
@common_options
@click.argument("week")
def archive_restore(week: str, **flags: Any) -> None:
    """Bring WEEK (YYYY-Www) back from the object store, verified, so history can read it again."""
    from taptrade.archive.packing import ArchiveError
    from taptrade.weeks import is_week_name

    if not is_week_name(week):
        raise click.BadParameter(f"{week!r} is not a week (YYYY-Www)", param_hint="WEEK")
    try:
        path = _archiver(flags).restore(week)
    except ArchiveError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {week} to {path}")


@main.group("backup")
def backup_group() -> None:
    """Hourly online backups of live.db to the object store (docs/storage.md)."""


def _backups(flags: dict[str, Any]) -> Backups:
    from taptrade.archive.backup import Backups
    from taptrade.archive.objectstore import open_store
    from taptrade.clock import SystemClock

    settings = settings_from("backup", **flags)
    try:
        store = open_store(
            settings.backup_store_url,
            s3_endpoint_url=settings.archive_s3_endpoint_url,
            storage_class="STANDARD",
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    return Backups(
        live_db=settings.live_db_path,
        store=store,
        clock=SystemClock(),
        scratch_dir=settings.data_dir / "tmp",
        keep_hours=settings.backup_keep_hours,
        keep_days=settings.backup_keep_days,
        metrics_file=settings.metrics_dir / "backup.prom",
    )


@backup_group.command("run")
@common_options
def backup_run(**flags: Any) -> None:
    """Copy live.db (one consistent snapshot, the ledger keeps writing), check, upload, verify, prune."""
    from taptrade.archive.packing import ArchiveError

    try:
        manifest, deleted = _backups(flags).run()
    except (ArchiveError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"backup": msgspec.to_builtins(manifest), "pruned": deleted}, indent=2))


@backup_group.command("list")
@common_options
def backup_list(**flags: Any) -> None:
    """Every backup in the store, oldest first, one JSON line each."""
    for manifest in _backups(flags).listing():
        click.echo(msgspec.json.encode(manifest).decode())


@backup_group.command("restore")
@common_options
@click.argument("name")
@click.option(
    "--to",
    "dest",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the database (e.g. a scratch path to inspect it, or DATA_DIR/live.db).",
)
@click.option("--force", is_flag=True, help="Replace an existing file (stop the ledger first).")
def backup_restore(name: str, dest: Path, force: bool, **flags: Any) -> None:
    """Download backup NAME (or `latest`), verify it, write it to --to, and check its money invariants."""
    from taptrade.archive.packing import ArchiveError

    try:
        manifest, report = _backups(flags).restore(name, dest, force=force)
    except ArchiveError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        json.dumps({"restored": manifest.name, "to": str(dest), "integrity": report.as_dict()}, indent=2)
    )
    if not report.ok:
        sys.exit(1)
