"""deploy/etc/: the example settings load as the product reads them, and agree with the other deploy
files on ports, paths and the host name."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from taptrade.config import Settings, load_settings
from tests.support import REPO

TOML = REPO / "deploy" / "etc" / "taptrade.toml"
ENV = REPO / "deploy" / "etc" / "taptrade.env.example"
SITE = REPO / "deploy" / "nginx" / "taptrade.conf"
PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"


@pytest.fixture
def production_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in os.environ:
        if name.startswith("TAPTRADE_"):
            monkeypatch.delenv(name)
    return load_settings(TOML)


def test_the_example_settings_load(production_settings: Settings) -> None:
    assert production_settings.mode == "production"
    assert production_settings.data_dir == Path("/var/lib/taptrade")
    assert production_settings.feed in ("binance", "coinbase")
    assert production_settings.web_dir == Path("/opt/taptrade/current/web/dist")
    assert production_settings.archive_url.startswith("s3://")


def test_settings_agree_with_nginx_and_prometheus(production_settings: Settings) -> None:
    site = SITE.read_text()
    server_names = set(re.findall(r"^\s*server_name\s+(\S+);", site, re.MULTILINE))
    assert set(production_settings.siwe_domains) == server_names
    assert f"root {production_settings.web_dir};" in site
    scraped = {
        target
        for job in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    }
    assert f"127.0.0.1:{production_settings.ledger_metrics_port}" in scraped
    assert f"127.0.0.1:{production_settings.feed_metrics_port}" in scraped


def test_the_environment_example_names_real_settings() -> None:
    fields = {f"TAPTRADE_{name.upper()}" for name in Settings.model_fields}
    for line in ENV.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        key, separator, value = line.partition("=")
        assert separator, line
        assert value, line
        assert key in fields or key.startswith("AWS_"), f"{key} is not a setting"
