"""Signed-in sessions: created at login, kept in Redis for 24 h (by the SHA-256 of the token, so a Redis
dump holds no usable token), revoked by logout.

Each worker caches the parsed session key per session. The cache only saves parsing: whether the
session still exists is asked of Redis on every request — inside the bet guard's Lua script on the hot
path, so a logout on any worker takes effect at once everywhere.

A session is read from Redis over a pipelined connection of its own (`redis_wire.ScriptLane`), not
redis-py's pool: each trader's first bet on a worker misses the cache, and when traders arrive together
(a busy minute's start: 2,500 first bets in a second in the bet benchmark) redis-py's ~150 µs of CPU per
read, on top of the bets, held those first bets at p99 136-233 ms; on the lane it is ~35 µs
(docs/benchmarks.md). Its failures are raised as redis-py's `ConnectionError`, so callers handle one kind
of Redis failure.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric import ec
from redis.exceptions import ConnectionError as RedisConnectionError

from taptrade import bus
from taptrade.auth.session_keys import load_session_key
from taptrade.redis_wire import LaneNotSent, LaneUnknown, ScriptLane

CACHE_MAX_SESSIONS = 100_000


@dataclass(frozen=True, slots=True)
class Session:
    token_hash: str
    address: str
    key: ec.EllipticCurvePublicKey
    expires_ms: int

    @property
    def redis_key(self) -> str:
        return bus.session_key(self.token_hash)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    def __init__(self, redis: aioredis.Redis) -> None:
        self._redis = redis
        self._cache: OrderedDict[str, Session] = OrderedDict()
        self._reads = ScriptLane.for_client(redis)

    def close(self) -> None:
        self._reads.close()

    async def _fields(self, hashed: str) -> dict[bytes, bytes]:
        """The session's hash in Redis (empty when there is none)."""
        try:
            flat = await self._reads.command(b"HGETALL", bus.session_key(hashed))
        except (LaneNotSent, LaneUnknown) as exc:
            raise RedisConnectionError(str(exc)) from exc
        return dict(zip(flat[::2], flat[1::2], strict=True))

    async def create(self, address: str, key_b64: str, expires_ms: int, now_ms: int) -> str:
        token = secrets.token_urlsafe(32)
        ttl_ms = max(1, expires_ms - now_ms)
        key = bus.session_key(token_hash(token))
        fields = {"address": address, "key": key_b64, "expires_ms": str(expires_ms)}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=cast(Any, fields))  # the stub's key type is an invariant union
            pipe.pexpire(key, ttl_ms)
            await pipe.execute()
        return token

    async def lookup(self, token: str, now_ms: int, *, confirm: bool = True) -> Session | None:
        """The session for `token`. With `confirm=False` a cached session is returned without asking
        Redis; the caller must then confirm it exists (the bet guard does)."""
        hashed = token_hash(token)
        cached = self._cache.get(hashed)
        if cached is not None and not confirm:
            return cached if cached.expires_ms > now_ms else None
        fields = await self._fields(hashed)
        if not fields:
            self._cache.pop(hashed, None)
            return None
        expires_ms = int(fields[b"expires_ms"])
        if expires_ms <= now_ms:
            return None
        if cached is None:
            cached = Session(
                token_hash=hashed,
                address=fields[b"address"].decode(),
                key=load_session_key(fields[b"key"].decode()),
                expires_ms=expires_ms,
            )
            self._cache[hashed] = cached
            if len(self._cache) > CACHE_MAX_SESSIONS:
                self._cache.popitem(last=False)
        return cached

    async def revoke(self, token: str) -> None:
        hashed = token_hash(token)
        self._cache.pop(hashed, None)
        await self._redis.delete(bus.session_key(hashed))
