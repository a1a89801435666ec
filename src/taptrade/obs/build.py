"""What build is running: the git commit and build time, baked into the release (`BUILD_INFO.json` in the
release directory, beside its `.venv`, written by deploy/deploy.sh) or, in a checkout, read from git once
at startup."""

from __future__ import annotations

import functools
import json
import os
import subprocess  # nosec B404
import sys
from dataclasses import dataclass
from pathlib import Path

# A release is `releases/<version>/` holding `.venv/` and this file; the interpreter's prefix is that .venv.
BUILD_INFO_FILE = Path(sys.prefix).parent / "BUILD_INFO.json"
SOURCE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class BuildInfo:
    git_commit: str
    build_time: str


@functools.cache
def build_info() -> BuildInfo:
    if BUILD_INFO_FILE.is_file():
        data = json.loads(BUILD_INFO_FILE.read_text())
        return BuildInfo(str(data.get("git_commit", "unknown")), str(data.get("build_time", "unknown")))
    commit = os.environ.get("TAPTRADE_GIT_COMMIT") or _git_head() or "unknown"
    return BuildInfo(commit, os.environ.get("TAPTRADE_BUILD_TIME", "unknown"))


def _git_head() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=SOURCE_DIR,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
