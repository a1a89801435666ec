"""The server's processes as the benchmarks see them: found from the port, named by role, read from /proc.

`taptrade run` is the root; under it Redis, the ledger, the feed, the gateway supervisor and its workers.
A `Sample` holds each process's CPU seconds, resident memory, open file descriptors and threads at one
moment; the difference of two samples gives CPU per request by role, and a series of them the soak's slopes.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class ProcSample:
    role: str
    cpu_s: float
    rss_bytes: int
    fds: int
    threads: int


@dataclass(frozen=True)
class Sample:
    at_s: float
    procs: dict[int, ProcSample]

    def by_role(self) -> dict[str, list[ProcSample]]:
        roles: dict[str, list[ProcSample]] = {}
        for proc in self.procs.values():
            roles.setdefault(proc.role, []).append(proc)
        return roles


def _stat_fields(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # fields from the state on (the name may hold spaces)


def parent_of(pid: int) -> int:
    return int(_stat_fields(pid)[1])


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(c) for c in children)
    return found


def role_of(pid: int) -> str:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    text = " ".join(a.decode(errors="replace") for a in args)
    if "redis-server" in text:
        return "redis"
    if "resource_tracker" in text:
        return "gateway-tracker"
    if "spawn_main" in text:
        return "gateway-worker"
    for role in ("ledger", "feed", "gateway"):
        if f"taptrade {role}" in text:
            return role if role != "gateway" else "gateway-supervisor"
    if "taptrade run" in text or text.endswith("taptrade"):
        return "launcher"
    return "other"


def listener_pids(port: int) -> list[int]:
    """Processes holding a listening socket on `port` (the gateway workers)."""
    out = subprocess.run(
        ["ss", "-Htlnp", f"( sport = :{port} )"], capture_output=True, text=True, check=False
    ).stdout
    return sorted({int(part.split(",", 1)[0]) for part in out.split("pid=")[1:]})


def server_tree(port: int) -> list[int]:
    """Every process of the `taptrade run` that serves `port`."""
    workers = listener_pids(port)
    if not workers:
        raise RuntimeError(f"no process listens on port {port}")
    root = workers[0]
    while role_of(root) != "launcher":
        root = parent_of(root)
        if root <= 1:
            return workers  # not started by `taptrade run`: the workers alone
    return tree_of(root)


def tree_of(root: int) -> list[int]:
    """`root` and all its descendants that still run; a process that ends while we look is left out."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        try:
            todo.extend(children_of(pid))
        except (FileNotFoundError, ProcessLookupError):
            continue
        tree.append(pid)
    return sorted(tree)


def read_proc(pid: int) -> ProcSample:
    fields = _stat_fields(pid)
    cpu_s = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
    return ProcSample(
        role=role_of(pid),
        cpu_s=cpu_s,
        rss_bytes=int(fields[21]) * PAGE_BYTES,
        fds=len(os.listdir(f"/proc/{pid}/fd")),
        threads=int(fields[17]),
    )


def sample(pids: list[int]) -> Sample:
    procs = {}
    for pid in pids:
        try:
            procs[pid] = read_proc(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue  # a process that ended between the listing and the read
    return Sample(time.time(), procs)


def cpu_ms_per_request(before: Sample, after: Sample, requests: int) -> dict[str, float]:
    """CPU milliseconds each role spent per request between two samples (workers summed)."""
    spent: dict[str, float] = {}
    for pid, proc in after.procs.items():
        start = before.procs.get(pid)
        if start is not None:
            spent[proc.role] = spent.get(proc.role, 0.0) + (proc.cpu_s - start.cpu_s)
    return {role: seconds * 1000 / max(requests, 1) for role, seconds in sorted(spent.items())}


def own_cpu_s() -> float:
    """This process's and its reaped children's CPU seconds (the loader's own cost)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system
