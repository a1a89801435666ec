"""Settings: one typed object built from `TAPTRADE_*` environment variables and an optional TOML file.

Precedence, highest first: explicit overrides (command-line flags), environment variables, the TOML file
named by `TAPTRADE_CONFIG` (or `--config`), then the defaults below. Every default is documented in
README.md; a value that fails validation stops the process with a message naming the setting.
"""

from __future__ import annotations

import os
import urllib.parse
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from taptrade.grid import GridSpec

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_URL_FILE = "redis.url"
LIVE_DB_FILE = "live.db"

_toml_path: ContextVar[Path | None] = ContextVar("_toml_path", default=None)


class Settings(BaseSettings):
    """Everything a Tap Trading process can be told. Units are in the names."""

    model_config = SettingsConfigDict(env_prefix="TAPTRADE_", extra="forbid", frozen=True)

    data_dir: Path = Path("./data")
    port: int = Field(default=8000, ge=1, le=65535)
    redis_url: str | None = None
    mode: Literal["demo", "production"] = "demo"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # The grid (DESIGN §2).
    column_seconds: int = Field(default=5, ge=1, le=3600)
    row_cents: int = Field(default=1000, ge=1)
    stake_presets_cents: tuple[int, ...] = (100, 500, 1000, 2500, 5000, 10000)
    placeable_min_offset: int = Field(default=2, ge=1)
    max_ahead_columns: int = Field(default=30, ge=2)
    multiplier_min_e4: int = Field(default=11_000, gt=10_000)
    multiplier_max_e4: int = Field(default=1_000_000, gt=10_000)

    # Sign-In with Ethereum (DESIGN §8). Empty means 127.0.0.1:PORT and localhost:PORT.
    siwe_domains: tuple[str, ...] = ()
    chain_id: int = Field(default=1, ge=1)

    # The ledger (DESIGN §4).
    ledger_batch_max: int = Field(default=512, ge=1, le=100_000)
    ledger_block_ms: int = Field(default=100, ge=1, le=10_000)
    # The least time from one read of the intake to the next while commands keep coming (group commit:
    # fewer, larger batches; ledger/read_pacer.py, docs/ledger.md).
    ledger_batch_interval_ms: float = Field(default=5.0, ge=0.0, le=1000.0)
    ledger_metrics_port: int = Field(default=9101, ge=0, le=65535)
    feed_metrics_port: int = Field(default=9102, ge=0, le=65535)
    intake_max_len: int = Field(default=100_000, ge=100)
    resolution_grace_ms: int = Field(default=2000, ge=0, le=60_000)
    reply_timeout_ms: int = Field(default=2000, ge=10, le=60_000)
    redis_pool_size: int = Field(default=64, ge=1, le=10_000)
    # The longest an asyncio process (gateway, feed, admin) waits on one Redis command before it answers
    # without it: 503 when the command never left, 504 (outcome unknown) when it may have run.
    redis_timeout_ms: int = Field(default=2000, ge=100, le=60_000)

    # The gateway (DESIGN §4, §8).
    host: str = "127.0.0.1"
    gateway_workers: int = Field(default=2, ge=1, le=64)
    # `taptrade run` restarts a child that died after 0.5 s, doubling each time up to this (back to 0.5 s
    # once a child has run for a minute).
    restart_backoff_max_s: float = Field(default=30.0, ge=0.5, le=3600.0)
    # Bets one worker holds at once before it answers 503 `unavailable` with Retry-After instead of queueing
    # (load shedding: beyond capacity a queue only turns into latency).
    gateway_max_bets_in_flight: int = Field(default=512, ge=1, le=100_000)
    bet_rate_per_s: float = Field(default=10.0, gt=0)
    bet_burst: int = Field(default=20, ge=1)
    bet_timestamp_window_s: int = Field(default=30, ge=1)
    quote_max_age_ms: int = Field(default=3000, ge=100)
    feed_stale_after_ms: int = Field(default=10_000, ge=1000)
    # The breaker's hysteresis: betting reopens after this long of continuous fresh ticks (DESIGN §5).
    feed_recovery_ms: int = Field(default=30_000, ge=1_000, le=600_000)
    demo_faucet_cents: int = Field(default=10_000, ge=1)
    feed: str = "simulated"
    # The archive of week files (DESIGN §7): file://DIR or s3://bucket/prefix; empty: DATA_DIR/archive.
    archive_url: str = ""
    archive_s3_endpoint_url: str | None = None
    archive_keep_local_weeks: int = Field(default=4, ge=0, le=520)
    # Hourly online backups of live.db (taptrade backup): file://DIR or s3://bucket/prefix; empty: the
    # archive's store, under `backups/`. Kept: all of the last `backup_keep_hours`, then one a day.
    backup_url: str = ""
    backup_keep_hours: int = Field(default=48, ge=1, le=24 * 365)
    backup_keep_days: int = Field(default=35, ge=0, le=3650)

    # The built web app the gateway serves at `/` (none: API only).
    web_dir: Path | None = Path("web/dist")

    # The feed and quotes (DESIGN §5).
    feed_seed: int | None = None
    quote_model: str = "taptrade.pricing.touch:TouchModel"
    quote_interval_ms: int = Field(default=250, ge=50, le=10_000)
    quote_rows_each_side: int = Field(default=20, ge=1, le=200)

    @field_validator("stake_presets_cents")
    @classmethod
    def _presets_positive(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if not value or any(v <= 0 for v in value) or len(set(value)) != len(value):
            raise ValueError("stake presets must be distinct positive integers (cents)")
        return tuple(sorted(value))

    @model_validator(mode="after")
    def _defaults_from_port(self) -> Settings:
        if not self.siwe_domains:
            domains = (f"127.0.0.1:{self.port}", f"localhost:{self.port}")
            object.__setattr__(self, "siwe_domains", domains)
        if self.multiplier_min_e4 > self.multiplier_max_e4:
            raise ValueError("multiplier_min_e4 must not exceed multiplier_max_e4")
        if self.placeable_min_offset > self.max_ahead_columns:
            raise ValueError("placeable_min_offset must not exceed max_ahead_columns")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_path.get()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    @property
    def live_db_path(self) -> Path:
        return self.data_dir / LIVE_DB_FILE

    @property
    def archive_store_url(self) -> str:
        return self.archive_url or f"file://{(self.data_dir / 'archive').resolve()}"

    @property
    def backup_store_url(self) -> str:
        return self.backup_url or self.archive_store_url.rstrip("/") + "/backups"

    @property
    def weeks_dir(self) -> Path:
        """Week files rotated out of live.db (DESIGN §7)."""
        return self.data_dir / "weeks"

    @property
    def metrics_dir(self) -> Path:
        """Prometheus text files of the one-shot jobs (archiver, backup, integrity), for the node
        exporter's textfile collector."""
        return self.data_dir / "metrics"

    def resolved_redis_url(self) -> str:
        """The Redis to talk to: the configured URL, else the one `taptrade run` recorded in the data dir."""
        if self.redis_url:
            return self.redis_url
        recorded = self.data_dir / REDIS_URL_FILE
        if recorded.is_file():
            url = recorded.read_text().strip()
            if url:
                return url
        return DEFAULT_REDIS_URL


def redacted_url(url: str) -> str:
    """A URL fit for a log line: any password replaced by `***`."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.hostname or ""
    netloc = f"{user}***@{host}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings; `overrides` are command-line values (None means "not given")."""
    path = config_file or (Path(p) if (p := os.environ.get("TAPTRADE_CONFIG")) else None)
    if path is not None and not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist (from --config or TAPTRADE_CONFIG)")
    token = _toml_path.set(path)
    try:
        given = {k: v for k, v in overrides.items() if v is not None}
        return Settings(**given)
    finally:
        _toml_path.reset(token)


def grid_spec(settings: Settings) -> GridSpec:
    return GridSpec(
        column_seconds=settings.column_seconds,
        row_cents=settings.row_cents,
        placeable_min_offset=settings.placeable_min_offset,
        max_ahead_columns=settings.max_ahead_columns,
    )
