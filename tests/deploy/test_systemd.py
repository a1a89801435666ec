"""deploy/systemd/: `systemd-analyze verify`, the references between the units, and that every ExecStart
is a command line the CLI accepts, as the layout in docs/deploy.md expects."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_launcher import launcher_env
from tests.support import REPO

UNITS = REPO / "deploy" / "systemd"
REDIS_CONF = REPO / "deploy" / "redis" / "redis.conf"
CLI = "/opt/taptrade/current/.venv/bin/taptrade"
CONFIG = "--config /etc/taptrade/taptrade.toml"
LONG_RUNNING = ("taptrade-ledger.service", "taptrade-feed.service", "taptrade-gateway.service")
TIMERS = ("taptrade-archiver.timer", "taptrade-integrity.timer", "taptrade-backup.timer")
VM_MEMORY_BYTES = 8 * 1024**3
OS_RESERVE_BYTES = 1024**3

Unit = dict[str, dict[str, list[str]]]


def unit_files() -> list[Path]:
    return sorted(p for p in UNITS.iterdir() if p.suffix in (".service", ".timer", ".target"))


def parse_unit(path: Path) -> Unit:
    """Sections of key -> values in order (systemd keys may repeat); continuation lines joined."""
    sections: Unit = {}
    current: dict[str, list[str]] = {}
    text = re.sub(r"\\\n", " ", path.read_text())
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: Unit, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}: {values}"
    return values[0]


def size_bytes(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMGT]?)", text.strip().upper())
    assert match is not None, text
    return int(match.group(1)) << (10 * " KMGT".index(match.group(2) or " "))


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    binary = shutil.which("systemd-analyze")
    if binary is None:
        pytest.fail(
            "systemd-analyze is not installed: run scripts/install-system-deps.sh (Debian package systemd)"
        )
    # verify rejects an ExecStart whose binary does not exist, and the release's CLI exists only on a
    # provisioned VM. The copies run an existing executable instead; every other line is verified as
    # written. (verify does not check that User= exists, so the missing taptrade user needs nothing.)
    stand_in = shutil.which("true")
    assert stand_in is not None
    copies = []
    for unit in unit_files():
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(CLI, stand_in))
        copies.append(str(copy))
    # The copies first on the unit path, so taptrade.target's Wants= find them; the trailing colon keeps
    # the system's units (redis-server.service, timers.target) after them.
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{tmp_path}:"}
    result = subprocess.run(
        [binary, "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    # Warnings (an unknown key, a bad value) do not change the exit status, so the output must be empty too.
    assert result.returncode == 0, output
    assert output == "", output


def test_units_name_only_units_that_exist() -> None:
    """verify ignores a misspelt Wants=, so the product's own references are checked here."""
    for path in unit_files():
        unit = parse_unit(path)
        for section in ("Unit", "Install"):
            for key in ("Wants", "Requires", "After", "Before", "PartOf", "WantedBy", "BindsTo"):
                for values in unit.get(section, {}).get(key, []):
                    for name in values.split():
                        if name.startswith("taptrade"):
                            assert (UNITS / name).is_file(), f"{path.name}: {key}={name} does not exist"
    for timer in TIMERS:
        assert (UNITS / timer.replace(".timer", ".service")).is_file()


def test_the_target_groups_the_long_running_services() -> None:
    target = parse_unit(UNITS / "taptrade.target")
    assert set(one(target, "Unit", "Wants").split()) == set(LONG_RUNNING)
    for name in LONG_RUNNING:
        unit = parse_unit(UNITS / name)
        assert one(unit, "Unit", "PartOf") == "taptrade.target"
        assert one(unit, "Install", "WantedBy") == "taptrade.target"


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_long_running_services_restart_within_limits(name: str) -> None:
    unit = parse_unit(UNITS / name)
    assert one(unit, "Service", "Restart") in ("always", "on-failure")
    assert one(unit, "Service", "RestartSec")
    assert int(one(unit, "Unit", "StartLimitBurst")) > 1
    assert one(unit, "Unit", "StartLimitIntervalSec")
    assert "redis-server.service" in one(unit, "Unit", "After").split()
    assert "redis-server.service" in one(unit, "Unit", "Wants").split()
    assert size_bytes(one(unit, "Service", "MemoryMax")) > 0
    assert int(one(unit, "Service", "LimitNOFILE")) >= 4096


def test_the_ledger_has_time_to_finish_its_batch() -> None:
    unit = parse_unit(UNITS / "taptrade-ledger.service")
    assert int(one(unit, "Service", "TimeoutStopSec").removesuffix("s")) >= 60
    assert one(unit, "Service", "KillMode") == "mixed"


def test_the_processes_and_redis_fit_the_vm() -> None:
    """Each long-running cap, plus Redis's maxmemory twice (an AOF rewrite forks it), leaves the OS 1 GiB."""
    caps = sum(size_bytes(one(parse_unit(UNITS / name), "Service", "MemoryMax")) for name in LONG_RUNNING)
    match = re.search(r"^maxmemory (\d+)([kmg]b)$", REDIS_CONF.read_text(), re.MULTILINE)
    assert match is not None
    redis_bytes = int(match.group(1)) * 1024 ** ("kmg".index(match.group(2)[0]) + 1)
    assert caps + 2 * redis_bytes <= VM_MEMORY_BYTES - OS_RESERVE_BYTES


@pytest.mark.parametrize("path", [p for p in unit_files() if p.suffix == ".service"], ids=lambda p: p.name)
def test_every_service_runs_the_release_cli_as_taptrade(path: Path) -> None:
    unit = parse_unit(path)
    assert one(unit, "Service", "User") == "taptrade"
    assert one(unit, "Service", "Group") == "taptrade"
    assert one(unit, "Service", "EnvironmentFile") == "-/etc/taptrade/taptrade.env"
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert one(unit, "Service", "ReadWritePaths") == "/var/lib/taptrade"
    exec_start = one(unit, "Service", "ExecStart")
    assert exec_start.startswith(CLI + " ")
    assert CONFIG in exec_start


@pytest.mark.parametrize("path", [p for p in unit_files() if p.suffix == ".service"], ids=lambda p: p.name)
def test_every_exec_start_is_accepted_by_the_cli(path: Path) -> None:
    """The subcommand and each option exist: click rejects unknown ones before it honours --help."""
    args = one(parse_unit(path), "Service", "ExecStart").split()[1:]
    argv = [sys.executable, "-m", "taptrade", *args, "--help"]
    result = subprocess.run(argv, capture_output=True, text=True, env=launcher_env(), timeout=60, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("timer", TIMERS)
def test_timers_start_one_shot_jobs_that_yield(timer: str) -> None:
    schedule = parse_unit(UNITS / timer)
    assert one(schedule, "Timer", "OnCalendar")
    assert one(schedule, "Timer", "Persistent") == "true"
    assert one(schedule, "Install", "WantedBy") == "timers.target"
    service = parse_unit(UNITS / timer.replace(".timer", ".service"))
    assert one(service, "Service", "Type") == "oneshot"
    assert int(one(service, "Service", "Nice")) > 0


def test_integrity_runs_every_15_minutes_and_backup_hourly() -> None:
    assert one(parse_unit(UNITS / "taptrade-integrity.timer"), "Timer", "OnCalendar") == "*:0/15"
    assert one(parse_unit(UNITS / "taptrade-backup.timer"), "Timer", "OnCalendar") == "*-*-* *:35:00 UTC"
