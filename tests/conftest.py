"""Fixtures: one real redis-server per test session (flushed between tests), temporary data dirs,
the ledger on a thread, and an intake client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import redis

from taptrade.bus import IntakeClient, connect_async
from taptrade.config import Settings
from taptrade.obs.logging import configure_logging
from tests.gateway_support import GatewayThread, publish_market
from tests.support import LedgerThread, RedisServer, make_settings

# Processes run in threads here log as they do in production (JSON lines on stderr), from the first line
# on: structlog keeps a logger's configuration from its first use.
configure_logging("info")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if not redis_server.answers():  # a test may have killed it
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def settings(tmp_path: Path, redis_url: str) -> Settings:
    return make_settings(tmp_path / "data", redis_url)


@pytest.fixture
def ledger(settings: Settings) -> Iterator[LedgerThread]:
    with LedgerThread(settings) as running:
        yield running


@pytest.fixture
async def intake(settings: Settings) -> AsyncIterator[IntakeClient]:
    client = connect_async(settings.resolved_redis_url(), settings.redis_pool_size)
    intake = IntakeClient(client, intake_max_len=settings.intake_max_len, reply_timeout_ms=5000)
    await intake.start()
    yield intake
    await intake.close()
    await client.aclose()


@pytest.fixture
def gateway(settings: Settings, ledger: LedgerThread) -> Iterator[GatewayThread]:
    """Gateway + ledger + Redis, with a healthy market published."""
    publish_market(settings.resolved_redis_url())
    with GatewayThread(settings) as running:
        yield running


@pytest.fixture
async def client(gateway: GatewayThread) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
        yield http
