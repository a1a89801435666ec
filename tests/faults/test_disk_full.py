"""Disk full under load: the data dir on a small filesystem of its own (tmpfs), filled to the last byte
while bets arrive, then given its space back.

Two disks, as a deployment may have them: live.db's (the data dir) and Redis's append-only file (the
data dir's `redis/`, here a second tmpfs). A full ledger disk is answered at once with 503 `unavailable`
(the ledger's `storage_unavailable`, Retry-After); a full Redis disk makes Redis refuse writes (MISCONF),
answered the same way by the gateway. Nothing acknowledged is lost or corrupt, nothing is taken twice,
and betting resumes by itself when space returns, without restarting a process.

Mounting needs root (CI and the deployment's VM run the suite as root).
"""

from __future__ import annotations

import errno
import os
import random
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
import redis

from tests.faults.conftest import Scale, running_system
from tests.faults.harness import Fault, System, campaign, settings_for
from tests.support import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.long_fault, pytest.mark.slow, pytest.mark.timeout(900)]

DISK_BYTES = 64 * 1024 * 1024
HOLD_S = 6.0  # how long each disk stays full once the system has noticed
SETTLE_S = 8.0  # after space returns, before the next fault


@pytest.fixture(scope="module")
def disks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(data dir, Redis's dir): two empty tmpfs of DISK_BYTES, Redis's linked in as the data dir's redis/."""
    assert os.geteuid() == 0, "the disk-full campaign mounts tmpfs filesystems: run it as root"
    root = tmp_path_factory.mktemp("disk-full")
    data, redis_disk = root / "data", root / "redis-disk"
    mounted: list[Path] = []
    try:
        for disk in (data, redis_disk):
            disk.mkdir()
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", f"size={DISK_BYTES}", "tmpfs", str(disk)], check=True
            )
            mounted.append(disk)
        (data / "redis").symlink_to(redis_disk)
        yield data, redis_disk
    finally:
        for disk in mounted:
            subprocess.run(["umount", "--lazy", str(disk)], check=False)


@pytest.fixture(scope="module")
def system_on_small_disks(disks: tuple[Path, Path], scale: Scale) -> Iterator[System]:
    with running_system(disks[0], scale) as running:
        yield running


def fill(disk: Path) -> Path:
    """Write a file until the filesystem has no byte left; the file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    chunk = 1 << 20
    try:
        while chunk:
            try:
                os.write(fd, b"\0" * chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                chunk //= 2  # then smaller, to the last byte
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_bets_with_503_corrupts_nothing_and_resumes_when_space_returns(
    system_on_small_disks: System, disks: tuple[Path, Path], scale: Scale
) -> None:
    system = system_on_small_disks
    data_disk, redis_disk = disks
    windows: dict[str, tuple[float, float]] = {}
    redis_url = settings_for(system).resolved_redis_url()

    def noticed_by_ledger(log_mark: int) -> bool:
        return system.logged("ledger_storage_refusing", log_mark)

    def noticed_by_redis(_log_mark: int) -> bool:
        with redis.Redis.from_url(redis_url) as client:
            return client.info("persistence")["aof_last_write_status"] != "ok"

    def inject(system: System, rng: random.Random) -> list[Fault]:
        faults = []
        for name, disk, noticed in (
            ("ledger", data_disk, noticed_by_ledger),
            ("redis", redis_disk, noticed_by_redis),
        ):
            time.sleep(rng.uniform(1.0, 2.0))
            filled, log_mark = time.time(), system.log_size()
            filler = fill(disk)
            wait_for(partial(noticed, log_mark), 60, f"the {name} to find its disk full")
            refusing = time.time()
            time.sleep(HOLD_S)
            filler.unlink()
            freed = time.time()
            windows[name] = (refusing, freed)
            faults.append(Fault(filled, freed))
            time.sleep(SETTLE_S)
        return faults

    untouched = {role: system.pids(role) for role in ("ledger", "feed", "gateway-worker", "redis")}
    record, _ = campaign(
        system, scale, "disk full (live.db's, then Redis's)",
        "a tmpfs data dir filled to the last byte under load, then emptied; then Redis's own tmpfs;"
        " recovery counted from the space's return",
        2, 2 * (2.0 + HOLD_S + SETTLE_S) + 20, inject,
    )  # fmt: skip
    assert {role: system.pids(role) for role in untouched} == untouched  # resumed without restarts
    for name, (refusing, freed) in windows.items():
        # From a second after the fault was noticed until space returned: refused at once, with
        # Retry-After (the campaign checks every 503 has it), never a 500, a hang or a success.
        during = [status for due, _, status in record.bets if refusing + 1 <= due <= freed - 0.5]
        assert during, f"no bet was sent while the {name}'s disk was full"
        assert set(during) == {503}, (name, sorted(set(during)))
    assert any(" 503 unavailable" in answer for answer in record.answers), record.answers
    # An operator reads when it began and ended, not a line a batch; bars and resolution back off.
    log = system.log_text()
    assert log.count('"ledger_storage_writable"') == 1
    assert 1 <= log.count('"ledger_storage_refusing"') <= 1 + (HOLD_S + 5) // 5
    assert log.count('"ledger_housekeeping_failed"') <= 12
