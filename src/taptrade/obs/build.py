"""What build is running: the git commit and build time, baked into the release (`BUILD_INFO` file next to
the package, written by the release script) or, in a checkout, read from git once at startup."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

BUILD_INFO_FILE = Path(__file__).resolve().parent.parent / "BUILD_INFO.json"


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
            cwd=BUILD_INFO_FILE.parent,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
