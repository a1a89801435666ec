"""Every Redis name (keys, streams, channels) in one place, and the async client that submits commands.

Names:
- `tt:intake` (stream, consumer group `ledger`): money commands for the single writer, one JSON
  `Envelope` in field `m`. The ledger trims what it has acknowledged, so the stream's length is the backlog.
- `tt:reply:{client}` (channel): the ledger's replies to one submitting process (JSON list of `Reply`).
- `tt:events` (channel): per-user events of each committed batch (JSON list of `UserEvent`).

`IntakeClient.submit` XADDs a command and awaits its reply with a timeout. The XADD and the backlog cap
run as one Lua script: one Redis round trip per command.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from taptrade.commands import Command, Envelope, Reply, decode_replies, encode
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

PREFIX = "tt:"
INTAKE_STREAM = "tt:intake"
INTAKE_GROUP = "ledger"
LEDGER_CONSUMER = "ledger"
INTAKE_FIELD = b"m"
EVENTS_CHANNEL = "tt:events"


def connect_async(url: str, pool_size: int = 64) -> aioredis.Redis:
    """An asyncio client whose callers wait for a free connection instead of failing past the cap."""
    pool = aioredis.BlockingConnectionPool.from_url(url, max_connections=pool_size, timeout=5)
    return aioredis.Redis.from_pool(pool)


def reply_channel(client_id: str) -> str:
    return f"tt:reply:{client_id}"


# KEYS[1] intake stream; ARGV[1] envelope, ARGV[2] backlog cap. Returns the entry id, or false when full.
SUBMIT_LUA = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return false end
return redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
"""


class BusError(Exception):
    """Base of the intake client's errors.

    BusError
    ├── IntakeFull       the ledger's backlog is at its cap: shed load (503)
    ├── ReplyTimeout     no reply in time: the outcome is unknown (504), ask again by id
    └── BusUnavailable   Redis cannot be reached (503)
    """


class IntakeFull(BusError):
    pass


class ReplyTimeout(BusError):
    pass


class BusUnavailable(BusError):
    pass


class IntakeClient:
    """Submits commands to the ledger and routes its replies back to the waiting callers.

    One long-lived subscription on this client's reply channel serves every waiting caller.
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        intake_max_len: int,
        reply_timeout_ms: int,
        client_id: str | None = None,
    ) -> None:
        self._redis = redis
        self._max_len = intake_max_len
        self._timeout_s = reply_timeout_ms / 1000
        self.client_id = client_id or uuid.uuid4().hex
        self.channel = reply_channel(self.client_id)
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._submit = redis.register_script(SUBMIT_LUA)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
        await self._pubsub.subscribe(self.channel)
        # Wait for the confirmation so that no reply can be published before we listen.
        while True:
            message = await self._pubsub.get_message(timeout=5.0)
            if message is not None and message["type"] == "subscribe":
                break
        self._reader = asyncio.create_task(self._read_replies(), name=f"replies-{self.client_id}")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        for future in self._waiting.values():
            future.cancel()

    async def submit(self, command: Command, timeout_s: float | None = None) -> Reply:
        request_id = uuid.uuid4().hex
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            envelope = encode(Envelope(request_id=request_id, reply_to=self.channel, command=command))
            try:
                added = await self._submit(keys=[INTAKE_STREAM], args=[envelope, self._max_len])
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                raise BusUnavailable(str(exc)) from exc
            if added is None:
                raise IntakeFull("the ledger's intake backlog is full")
            try:
                return await asyncio.wait_for(future, timeout_s or self._timeout_s)
            except TimeoutError as exc:
                raise ReplyTimeout(f"no reply from the ledger for request {request_id}") from exc
        finally:
            self._waiting.pop(request_id, None)

    async def _read_replies(self) -> None:
        backoff_s = 0.05
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                backoff_s = 0.05
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                log.warning("reply_channel_lost", error=str(exc), retry_in_s=backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, 2.0)
                continue
            if message is None or message["type"] != "message":
                continue
            try:
                replies = decode_replies(message["data"])
            except ValueError:
                log.error("reply_undecodable", size=len(message["data"]))
                continue
            for reply in replies:
                future = self._waiting.get(reply.request_id)
                if future is not None and not future.done():
                    future.set_result(reply)


def check_redis_policy(client: SyncRedis) -> None:
    """Refuse a Redis that may evict keys: an evicted nonce, session or intake entry is a lost guarantee."""
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    except ResponseError:
        log.warning("redis_config_unreadable", hint="make sure maxmemory-policy is noeviction")
        return
    if isinstance(policy, bytes):
        policy = policy.decode()
    if policy != "noeviction":
        raise RuntimeError(
            f"Redis maxmemory-policy is {policy!r}; it must be 'noeviction' "
            "(any eviction policy can drop nonces, sessions or intake entries). "
            "Set it with: redis-cli CONFIG SET maxmemory-policy noeviction"
        )
