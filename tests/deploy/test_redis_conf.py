"""deploy/redis/redis.conf run by a real redis-server: the settings the product depends on are in force,
the ledger's start-up check accepts it, and nothing is served without the password."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from taptrade.bus import check_redis_policy
from tests.support import REPO, free_port, wait_for

REDIS_CONF = REPO / "deploy" / "redis" / "redis.conf"
AUTH_INCLUDE = "include /etc/redis/taptrade-auth.conf"


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_production_redis_conf(tmp_path: Path) -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed; run scripts/install-system-deps.sh", pytrace=False)
    text = REDIS_CONF.read_text()
    assert text.count(AUTH_INCLUDE) == 1
    password = secrets.token_hex(16)
    auth = tmp_path / "taptrade-auth.conf"
    auth.write_text(f"requirepass {password}\n")
    conf = tmp_path / "redis.conf"
    conf.write_text(text.replace(AUTH_INCLUDE, f"include {auth}"))
    port = free_port()
    # The port and the paths owned by Debian's redis user are overridden on the command line, which
    # beats the file; every other line is used as written.
    argv = [binary, str(conf), "--port", str(port), "--dir", str(tmp_path),
            "--pidfile", str(tmp_path / "redis.pid"), "--logfile", str(tmp_path / "redis.log")]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    try:
        # A plain connect, not a client: redis-py retries a refused connection with back-off.
        wait_for(lambda: proc.poll() is not None or listening(port), 10, "redis-server")
        assert proc.poll() is None, (tmp_path / "redis.log").read_text()
        url = f"redis://:{password}@127.0.0.1:{port}/0"
        with redis.Redis.from_url(url) as client:
            config = client.config_get("*")
            assert config["maxmemory-policy"] == "noeviction"
            assert config["appendonly"] == "yes"
            assert config["appendfsync"] == "everysec"
            assert config["save"] == ""
            assert int(config["auto-aof-rewrite-min-size"]) == 512 * 1024**2
            assert config["bind"].split()[0] == "127.0.0.1"
            assert int(config["maxmemory"]) == 1024**3
            check_redis_policy(client)  # what the ledger runs before it starts
        # Refused authentication is a connection error to redis-py, which would retry it with back-off.
        no_retry = Retry(NoBackoff(), 0)
        with redis.Redis(port=port, retry=no_retry) as anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.ping()
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
