"""deploy/deploy.sh with real processes: releases laid out as in production under a temporary root, a real
gateway started from `current` by the restart command, real HTTP checks, real Redis.

Each release here is made in a fraction of a second instead of built (pip and npm take minutes): a venv
without pip whose site-packages has a .pth file naming this checkout's source and its virtualenv's
packages, a `taptrade` script that runs `python -m taptrade`, and a BUILD_INFO.json with a made-up commit.
The gateway reads BUILD_INFO.json beside the venv of the interpreter running it, as it does in production,
so /api/version tells which release is answering. A broken release's `taptrade` exits 1 at once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

import taptrade
from taptrade.ledger import db
from tests.support import REPO, free_port

DEPLOY = REPO / "deploy" / "deploy.sh"
# Generous for a healthy release (a gateway starts in a few seconds); a broken one always takes all of it.
HEALTHY_TIMEOUT_S = 30
BROKEN_TIMEOUT_S = 8


RESTART_SCRIPT = """#!/usr/bin/env bash
# Stands in for `systemctl restart taptrade.target`: stop the gateway started last, start one from current.
set -u
if [[ -s {pid_file} ]]; then
    # Killed at once, with its worker (its own process group, from setsid below): a clean stop takes
    # seconds and proves nothing here. Its sockets close as it dies; if the old gateway still answered
    # for a moment, it would answer its own commit, which deploy.sh does not take for the new one.
    kill -KILL -- "-$(<{pid_file})" 2>/dev/null
    rm -f {pid_file}
fi
setsid {root}/current/.venv/bin/taptrade gateway --workers 1 --host 127.0.0.1 --port {port} \\
    --data-dir {data_dir} --redis-url {redis_url} </dev/null >>{log} 2>&1 &
echo $! >{pid_file}
echo $! >>{started_file}
"""

WORKING_TAPTRADE = '#!/bin/sh\nexec "$(dirname "$0")/python" -m taptrade "$@"\n'
BROKEN_TAPTRADE = "#!/bin/sh\necho 'this release is broken on purpose' >&2\nexit 1\n"


def import_paths() -> list[str]:
    """Where this test's interpreter finds taptrade and its dependencies: the source tree first, so the
    package under test is this checkout whatever is installed."""
    source = str(Path(taptrade.__file__).resolve().parent.parent)
    paths = [source, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    return list(dict.fromkeys(paths))


@dataclass
class Install:
    """A production layout under a temporary root, and what its restart command started."""

    root: Path
    port: int
    restart_script: Path
    pid_file: Path
    started_file: Path
    gateway_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def release(self, name: str, commit: str, *, broken: bool = False) -> Path:
        directory = self.root / "releases" / name
        venv = directory / ".venv"
        # The venv's interpreter is the base of the one running this test: the packages the .pth names
        # were built for it.
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
        (site_packages / "taptrade_under_test.pth").write_text("\n".join(import_paths()) + "\n")
        script = venv / "bin" / "taptrade"
        script.write_text(BROKEN_TAPTRADE if broken else WORKING_TAPTRADE)
        script.chmod(0o755)
        build_info: dict[str, object] = {
            "git_commit": commit,
            "build_time": "2026-01-01T00:00:00Z",
            "version": name,
        }
        if broken:
            build_info["broken"] = True
        (directory / "BUILD_INFO.json").write_text(json.dumps(build_info))
        return directory

    def deploy(self, *args: str, timeout_s: int = HEALTHY_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TAPTRADE_")}
        env["TAPTRADE_RESTART_CMD"] = str(self.restart_script)
        argv = [str(DEPLOY), "--root", str(self.root), "--health-url", self.url, "--timeout", str(timeout_s),
                *args]  # fmt: skip
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s * 3 + 30)
        # The script's log, then the gateway's, are the first things to read when an assertion fails.
        sys.stderr.write(result.stderr)
        if result.returncode != 0 and self.gateway_log.exists():
            sys.stderr.write(self.gateway_log.read_text()[-4000:])
        return result

    def link(self, name: str) -> str | None:
        link = self.root / name
        return Path(os.readlink(link)).name if link.is_symlink() else None

    def served_commit(self) -> str:
        answer = httpx.get(f"{self.url}/api/version", timeout=5)
        answer.raise_for_status()
        return str(answer.json()["git_commit"])

    def releases(self) -> list[str]:
        return sorted(p.name for p in (self.root / "releases").iterdir())

    def stop_everything(self) -> None:
        if not self.started_file.exists():
            return
        for line in self.started_file.read_text().split():
            with contextlib.suppress(ProcessLookupError):  # gone already (a broken release exits at once)
                os.killpg(int(line), signal.SIGKILL)


@pytest.fixture
def install(tmp_path: Path, redis_url: str) -> Iterator[Install]:
    root = tmp_path / "opt-taptrade"
    (root / "releases").mkdir(parents=True)
    data_dir = tmp_path / "data"
    # The gateway is healthy (HTTP 200) when it can read live.db and reach Redis; the ledger creates
    # live.db in production, and its schema is all the gateway needs here.
    db.open_writer(data_dir / "live.db").close()
    run = tmp_path / "run"
    run.mkdir()
    installed = Install(
        root=root,
        port=free_port(),
        restart_script=run / "restart.sh",
        pid_file=run / "gateway.pid",
        started_file=run / "started.pids",
        gateway_log=run / "gateway.log",
    )
    installed.restart_script.write_text(
        RESTART_SCRIPT.format(
            pid_file=shlex.quote(str(installed.pid_file)),
            started_file=shlex.quote(str(installed.started_file)),
            root=shlex.quote(str(root)),
            port=installed.port,
            data_dir=shlex.quote(str(data_dir)),
            redis_url=shlex.quote(redis_url),
            log=shlex.quote(str(installed.gateway_log)),
        )
    )
    installed.restart_script.chmod(0o755)
    try:
        yield installed
    finally:
        installed.stop_everything()


def name_of(n: int, commit: str) -> str:
    """Version names as deploy.sh makes them: build time first, so they sort by age."""
    return f"20260101T{n:02d}0000Z-{commit[:7]}"


COMMIT_A, COMMIT_B, COMMIT_C = "a" * 40, "b" * 40, "c" * 40


@pytest.mark.slow
def test_deploy_switches_current_then_rollback_goes_back_and_forth(install: Install) -> None:
    # One story, because a rollback needs two deploys before it: each gateway start costs seconds.
    a = install.release(name_of(1, COMMIT_A), COMMIT_A)
    b = install.release(name_of(2, COMMIT_B), COMMIT_B)

    first = install.deploy("--release", str(a))
    assert first.returncode == 0
    assert install.served_commit() == COMMIT_A

    second = install.deploy("--release", str(b))
    assert second.returncode == 0
    assert install.link("current") == b.name
    assert install.link("previous") == a.name
    assert install.served_commit() == COMMIT_B
    assert f"DEPLOYED: {b.name}" in second.stderr

    back = install.deploy("--rollback")
    assert back.returncode == 0
    assert install.link("current") == a.name
    assert install.served_commit() == COMMIT_A

    # The release left behind is now the previous one: a second rollback undoes the first.
    again = install.deploy("--rollback")
    assert again.returncode == 0
    assert install.link("current") == b.name
    assert install.link("previous") == a.name
    assert install.served_commit() == COMMIT_B


@pytest.mark.slow
def test_broken_release_is_rolled_back_by_itself(install: Install) -> None:
    b = install.release(name_of(2, COMMIT_B), COMMIT_B)
    c = install.release(name_of(3, COMMIT_C), COMMIT_C, broken=True)
    assert install.deploy("--release", str(b)).returncode == 0

    result = install.deploy("--release", str(c), timeout_s=BROKEN_TIMEOUT_S)

    assert result.returncode == 1
    assert install.link("current") == b.name
    # Both links as they were: the failed release is not what a later --rollback would go back to.
    assert install.link("previous") is None
    assert install.served_commit() == COMMIT_B
    assert f"ROLLED BACK: {c.name} failed its checks; {b.name} is live again and healthy" in result.stderr


@pytest.mark.slow
def test_broken_first_release_exits_2_with_nothing_to_go_back_to(install: Install) -> None:
    c = install.release(name_of(1, COMMIT_C), COMMIT_C, broken=True)

    result = install.deploy("--release", str(c), timeout_s=3)

    assert result.returncode == 2
    assert "no earlier release to go back to" in result.stderr


def test_release_outside_the_releases_directory_is_refused_untouched(
    install: Install, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = install.deploy("--release", str(elsewhere))

    assert result.returncode == 3
    assert install.link("current") is None
    assert not install.started_file.exists()


@pytest.mark.slow
def test_prune_keeps_five_and_never_current_or_previous(install: Install) -> None:
    commits = [f"{n:x}" * 40 for n in range(1, 9)]
    names = [install.release(name_of(n, commits[n - 1]), commits[n - 1]).name for n in range(1, 9)]
    unfinished = install.root / "releases" / "20260101T990000Z-unfinished"
    unfinished.mkdir()  # no BUILD_INFO.json: a build in progress or interrupted, never touched

    # The oldest release goes live: the newest five stay, and it stays as current.
    assert install.deploy("--release", str(install.root / "releases" / names[0])).returncode == 0
    assert install.releases() == sorted([names[0], *names[3:8], unfinished.name])

    # Now it is the previous release, still kept although older than the newest five.
    assert install.deploy("--release", str(install.root / "releases" / names[7])).returncode == 0
    assert install.releases() == sorted([names[0], *names[3:8], unfinished.name])
    assert install.link("current") == names[7]
    assert install.link("previous") == names[0]
    assert install.served_commit() == commits[7]
