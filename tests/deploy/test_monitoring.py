"""deploy/prometheus/ and deploy/grafana/: they parse, they use only metrics the product (or the node
exporter) exports, the alerts the runbook relies on exist, and the scrape targets are the processes' ports.
With promtool installed (Debian's `prometheus` package), the rules are also checked and unit-tested by it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import REPO

ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "taptrade.json"
ALERT_TESTS = Path(__file__).parent / "alerts_test.yml"

# What the product exports (docs/deploy.md, Monitoring), and the node exporter's metrics the rules use.
PRODUCT_METRICS = {
    "http_requests_total",
    "http_request_duration_seconds",
    "bets_placed_total",
    "bets_resolved_total",
    "price_feed_staleness_seconds",
    "circuit_breaker_state",
    "last_successful_archive_timestamp",
    "last_successful_backup_timestamp",
    "ledger_batch_size",
    "ledger_commit_seconds",
    "ledger_storage_refusing",
    "integrity_drift_users",
}
NODE_EXPORTER_METRICS = {
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    "node_textfile_mtime_seconds",
    "node_textfile_scrape_error",
}
DOCUMENTED = PRODUCT_METRICS | NODE_EXPORTER_METRICS | {"up"}
HISTOGRAMS = {"http_request_duration_seconds", "ledger_batch_size", "ledger_commit_seconds"}
PROMQL_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}

REQUIRED_ALERTS = {
    "TapTradeApiErrors": "warning|critical",
    "TapTradeApiLatencyHigh": "warning|critical",
    "TapTradePriceFeedStale": "critical",
    "TapTradeCircuitBreakerOpen": "critical",
    "TapTradeLedgerCommitSlow": "warning|critical",
    "TapTradeIntegrityDrift": "critical",
    "TapTradeArchiveStale": "warning|critical",
    "TapTradeBackupStale": "warning|critical",
    "TapTradeTargetDown": "critical",
    "TapTradeDiskFilling": "warning|critical",
    "TapTradeLedgerStorageRefusing": "critical",
}


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression, without a PromQL parser: drop strings, label matchers,
    ranges and grouping clauses, then every identifier not called as a function and not a keyword."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        if text[match.end() :].lstrip().startswith("(") or match.group(0) in PROMQL_KEYWORDS:
            continue
        names.add(match.group(0))
    return names


def base_name(name: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and name.removesuffix(suffix) in HISTOGRAMS:
            return name.removesuffix(suffix)
    return name


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_targets() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in dashboard["panels"]
        if panel["type"] != "row"
        for target in panel["targets"]
    ]


def test_metric_names_finds_what_it_should() -> None:
    expr = 'sum by (le) (rate(x_bucket{route!~"/ws.*"}[5m])) / on (job) up > 2 * 3600 and y{a="b(c)"}'
    assert metric_names(expr) == {"x_bucket", "up", "y"}


def test_alert_rules_parse_and_are_complete() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names repeat"
    for rule in rules:
        assert isinstance(rule["expr"], str), rule["alert"]
        assert rule["expr"].strip(), rule["alert"]
        assert re.fullmatch(r"\d+[smhd]", str(rule["for"])), rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
    by_name = {rule["alert"]: rule for rule in rules}
    for name, severities in REQUIRED_ALERTS.items():
        assert name in by_name, f"missing alert {name}"
        assert re.fullmatch(severities, by_name[name]["labels"]["severity"]), name


def test_alert_rules_use_only_documented_metrics() -> None:
    for rule in alert_rules():
        used = {base_name(name) for name in metric_names(rule["expr"])}
        assert used, f"{rule['alert']}: no metric in {rule['expr']!r}"
        assert used <= DOCUMENTED, f"{rule['alert']}: undocumented {used - DOCUMENTED}"


def test_the_alerts_say_what_the_design_says() -> None:
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    drift = by_name["TapTradeIntegrityDrift"]
    assert "integrity_drift_users" in drift["expr"]
    assert "> 0" in drift["expr"]
    assert drift["for"] == "0m"
    assert "> 10" in by_name["TapTradePriceFeedStale"]["expr"]
    assert by_name["TapTradeCircuitBreakerOpen"]["for"] == "1m"
    assert "> 0.1" in by_name["TapTradeApiLatencyHigh"]["expr"]
    assert "2 * 86400" in by_name["TapTradeArchiveStale"]["expr"]
    assert "2 * 3600" in by_name["TapTradeBackupStale"]["expr"]
    assert "< 0.15" in by_name["TapTradeDiskFilling"]["expr"]


def test_the_code_exports_every_product_metric() -> None:
    """The names are a contract with src/: each is declared there as a string."""
    source = "\n".join(p.read_text() for p in (REPO / "src" / "taptrade").rglob("*.py"))
    missing = {name for name in PRODUCT_METRICS if f'"{name}"' not in source}
    assert missing == set(), f"not exported by the code: {missing}"


def test_dashboard_is_a_grafana_dashboard_of_documented_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
    used = set()
    for title, expr in dashboard_targets():
        names = {base_name(name) for name in metric_names(expr)}
        assert names, f"{title}: no metric in {expr!r}"
        assert names <= DOCUMENTED, f"{title}: undocumented {names - DOCUMENTED}"
        used |= names
    assert used >= PRODUCT_METRICS, f"not on the dashboard: {PRODUCT_METRICS - used}"


def test_prometheus_scrapes_every_process_and_loads_the_rules() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = {
        job["job_name"]: {t for static in job["static_configs"] for t in static["targets"]}
        for job in config["scrape_configs"]
    }
    assert targets["taptrade-gateway"] == {"127.0.0.1:8000"}
    assert targets["taptrade-ledger"] == {"127.0.0.1:9101"}
    assert targets["taptrade-feed"] == {"127.0.0.1:9102"}
    assert targets["node"] == {"127.0.0.1:9100"}
    assert config["rule_files"] == ["/etc/prometheus/taptrade-alerts.yml"]


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "promtool is not installed: run scripts/install-system-deps.sh (Debian package prometheus)"
        )
    return binary


def test_promtool_checks_the_rules_and_the_config(tmp_path: Path) -> None:
    binary = promtool()
    rules = subprocess.run(
        [binary, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # The config names the rules where docs/deploy.md installs them; point it at the repository's file.
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS.read_text().replace("/etc/prometheus/taptrade-alerts.yml", str(ALERTS)))
    checked = subprocess.run(
        [binary, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_promtool_unit_tests_of_the_alerts(tmp_path: Path) -> None:
    binary = promtool()
    tests = tmp_path / "alerts_test.yml"
    tests.write_text(ALERT_TESTS.read_text().replace("ALERTS_FILE", str(ALERTS)))
    result = subprocess.run(
        [binary, "test", "rules", str(tests)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
