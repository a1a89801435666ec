"""A worker's sessions against a real redis-server: read over their own pipelined connection, so a trader's
first bet on a worker does not wait for redis-py's pool (which other requests may hold), and a Redis that is
gone is reported as redis-py's `ConnectionError`, the one Redis failure the callers handle."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError

from taptrade.bus import connect_async
from taptrade.gateway.sessions import Sessions
from tests.gateway_support import Trader
from tests.support import RedisServer


async def test_a_session_not_yet_cached_is_read_while_the_pool_is_held(redis_url: str) -> None:
    now_ms = int(time.time() * 1000)
    trader = Trader()
    writer = connect_async(redis_url)
    token = await Sessions(writer).create(trader.address, trader.session_key_b64(), now_ms + 60_000, now_ms)
    await writer.aclose()
    # A pool of one connection, checked out by someone else (a slow request, a blocking read).
    client = connect_async(redis_url, pool_size=1, timeout_s=2.0)
    held = await client.connection_pool.get_connection()
    sessions = Sessions(client)  # a worker that has not seen this session: not in its cache
    try:
        session = await asyncio.wait_for(sessions.lookup(token, now_ms, confirm=False), 1.0)
        assert session is not None
        assert session.address == trader.address
        assert await asyncio.wait_for(sessions.lookup("not-a-token", now_ms), 1.0) is None
    finally:
        sessions.close()
        await client.connection_pool.release(held)
        await client.aclose()


async def test_a_redis_that_is_gone_is_a_redis_connection_error(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis")
    server.start()
    client: aioredis.Redis = connect_async(server.url, timeout_s=0.5)
    sessions = Sessions(client)
    server.stop()
    try:
        with pytest.raises(RedisConnectionError):
            await sessions.lookup("any-token", int(time.time() * 1000), confirm=False)
    finally:
        sessions.close()
        await client.aclose()
