"""Settings: defaults, environment, TOML file, precedence and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from taptrade.config import DEFAULT_REDIS_URL, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TAPTRADE_"):
            monkeypatch.delenv(name)


def test_documented_defaults() -> None:
    s = load_settings()
    assert s.data_dir == Path("./data")
    assert s.port == 8000
    assert s.mode == "demo"
    assert (s.column_seconds, s.row_cents, s.max_ahead_columns) == (5, 1000, 30)
    assert s.stake_presets_cents == (100, 500, 1000, 2500, 5000, 10000)
    assert s.siwe_domains == ("127.0.0.1:8000", "localhost:8000")
    assert s.chain_id == 1


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAPTRADE_PORT", "9000")
    monkeypatch.setenv("TAPTRADE_MODE", "production")
    monkeypatch.setenv("TAPTRADE_STAKE_PRESETS_CENTS", "[500, 100]")
    s = load_settings()
    assert (s.port, s.mode, s.stake_presets_cents) == (9000, "production", (100, 500))
    assert s.siwe_domains == ("127.0.0.1:9000", "localhost:9000")


def test_toml_file_then_env_then_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "taptrade.toml"
    config.write_text('port = 7000\nchain_id = 8453\nsiwe_domains = ["play.example"]\nrow_cents = 500\n')
    monkeypatch.setenv("TAPTRADE_CONFIG", str(config))
    monkeypatch.setenv("TAPTRADE_CHAIN_ID", "10")
    s = load_settings(row_cents=2000)
    assert s.port == 7000  # file
    assert s.chain_id == 10  # env beats file
    assert s.row_cents == 2000  # flag beats both
    assert s.siwe_domains == ("play.example",)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.toml"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("port", 0),
        ("mode", "casino"),
        ("stake_presets_cents", (100, -5)),
        ("stake_presets_cents", (100, 100)),
        ("column_seconds", 0),
        ("unknown_setting", 1),
    ],
)
def test_invalid_values_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError):
        load_settings(**{name: value})


def test_redis_url_falls_back_to_the_one_recorded_in_the_data_dir(tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path).resolved_redis_url() == DEFAULT_REDIS_URL
    (tmp_path / "redis.url").write_text("unix:///somewhere/redis.sock\n")
    assert load_settings(data_dir=tmp_path).resolved_redis_url() == "unix:///somewhere/redis.sock"
    explicit = load_settings(data_dir=tmp_path, redis_url="redis://10.0.0.1:6379/0")
    assert explicit.resolved_redis_url() == "redis://10.0.0.1:6379/0"


def test_redis_passwords_never_reach_a_log_line() -> None:
    from taptrade.config import redacted_url

    assert redacted_url("redis://:s3cret@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redacted_url("redis://app:s3cret@db.internal/2") == "redis://app:***@db.internal/2"
    assert redacted_url("unix:///run/redis.sock") == "unix:///run/redis.sock"
    assert redacted_url("redis://127.0.0.1:6379") == "redis://127.0.0.1:6379"
