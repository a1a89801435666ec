"""Every Redis name (keys, streams, channels) in one place, and the async client that submits commands.

Names:
- `tt:intake` (stream, consumer group `ledger`): money commands for the single writer, one JSON
  `Envelope` in field `m`. The ledger trims what it has acknowledged, so the stream's length is the backlog.
- `tt:reply:{client}` (channel): the ledger's replies to one submitting process (JSON list of `Reply`).
- `tt:events` (channel): per-user events of each committed batch (JSON list of `UserEvent`).
- `tt:login-nonce:{nonce}` (5 min): a sign-in nonce, consumed with GETDEL.
- `tt:session:{sha256(token)}` (hash, 24 h): a signed-in session (address, session key, expiry).
- `tt:bet-nonce:{address}:{nonce}` (90 s): a bet nonce already used (replay guard).
- `tt:rate:{address}` (hash): the wallet's token bucket for bets.
- `tt:faucet:{address}` (10 min): the demo faucet was used.
- `tt:columns` (channel): a column resolved or voided (JSON as `GET /api/columns/{c}`).
- `tt:bars` (stream): closed 1 s bars from the feed, for the ledger to persist (JSON `Bar` in field `m`).
- `tt:breaker:override` (key): the operator's breaker mode, `auto` | `forced_open` | `forced_closed`.
- `tt:price:latest` / channel `tt:price`: the latest tick; `tt:quotes:latest` / channel `tt:quotes`: the
  latest quote table; `tt:feed:status` / channel `tt:feed:status`: feed health and betting state.

`IntakeClient.submit` XADDs a command and awaits its reply with a timeout. The XADD and the backlog cap
run as one Lua script: one Redis round trip per command.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis import Redis as SyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from taptrade.commands import Command, Envelope, Reply, decode_replies, encode
from taptrade.obs.logging import get_logger
from taptrade.redis_wire import LaneNotSent, Script, ScriptLane, Subscription

log = get_logger(__name__)

PREFIX = "tt:"
INTAKE_STREAM = "tt:intake"
INTAKE_GROUP = "ledger"
LEDGER_CONSUMER = "ledger"
INTAKE_FIELD = b"m"
EVENTS_CHANNEL = "tt:events"


LOGIN_NONCE_TTL_S = 300
SESSION_TTL_S = 24 * 3600
BET_NONCE_TTL_S = 90
FAUCET_TTL_S = 600
PRICE_KEY = "tt:price:latest"
PRICE_CHANNEL = "tt:price"
QUOTES_KEY = "tt:quotes:latest"
QUOTES_CHANNEL = "tt:quotes"
FEED_STATUS_KEY = "tt:feed:status"
FEED_STATUS_CHANNEL = "tt:feed:status"
BARS_STREAM = "tt:bars"
COLUMNS_CHANNEL = "tt:columns"
BARS_STREAM_MAX_LEN = 1_000_000  # ~11 days of seconds: the ledger persists them long before
BREAKER_OVERRIDE_KEY = "tt:breaker:override"


def login_nonce_key(nonce: str) -> str:
    return f"tt:login-nonce:{nonce}"


def session_key(token_hash: str) -> str:
    return f"tt:session:{token_hash}"


def bet_nonce_key(address: str, nonce: str) -> str:
    return f"tt:bet-nonce:{address}:{nonce}"


def rate_key(address: str) -> str:
    return f"tt:rate:{address}"


def faucet_key(address: str) -> str:
    return f"tt:faucet:{address}"


def connect_async(url: str, pool_size: int = 64, timeout_s: float = 2.0) -> aioredis.Redis:
    """An asyncio client whose callers wait at most `timeout_s` for a free connection (past the cap) and
    as long again for Redis to answer a command: a Redis that is up but not answering (stopped, stalled on
    its disk) costs a caller that long, not the whole stall. (Pub/sub reads pass their own timeouts.)"""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        timeout=timeout_s,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
    )
    return aioredis.Redis.from_pool(pool)


def reply_channel(client_id: str) -> str:
    return f"tt:reply:{client_id}"


# KEYS[1] intake stream; ARGV[1] envelope, ARGV[2] backlog cap. Returns the entry id, or false when full.
SUBMIT_LUA = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[2]) then return false end
return redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
"""


# The bet guard: everything a bet needs from Redis before the ledger, in one round trip.
# KEYS: session (or "" for wallet-signed bets), bet nonce, rate bucket, intake stream.
# ARGV: nonce TTL s, rate per s, burst, intake cap, envelope.
# Returns {"ok", entry id} | {"no_session"} | {"replayed"} | {"rate", retry_after_ms} | {"full"}.
# A refused bet spends neither its nonce nor a token, so the same signed request may be retried.
PLACE_BET_LUA = """
if KEYS[1] ~= "" and redis.call('EXISTS', KEYS[1]) == 0 then return {'no_session'} end
if not redis.call('SET', KEYS[2], 1, 'NX', 'EX', ARGV[1]) then return {'replayed'} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate, burst = tonumber(ARGV[2]), tonumber(ARGV[3])
local bucket = redis.call('HMGET', KEYS[3], 'tokens', 'ts')
local tokens = tonumber(bucket[1]) or burst
local ts = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
if tokens < 1 then
  redis.call('DEL', KEYS[2])
  return {'rate', math.ceil((1 - tokens) * 1000 / rate)}
end
if redis.call('XLEN', KEYS[4]) >= tonumber(ARGV[4]) then
  redis.call('DEL', KEYS[2])
  return {'full'}
end
redis.call('HSET', KEYS[3], 'tokens', tostring(tokens - 1), 'ts', now)
redis.call('PEXPIRE', KEYS[3], math.ceil(burst * 1000 / rate) + 1000)
return {'ok', redis.call('XADD', KEYS[4], '*', 'm', ARGV[5])}
"""


_SUBMIT = Script.of(SUBMIT_LUA)
_PLACE_BET = Script.of(PLACE_BET_LUA)


class BusError(Exception):
    """Base of the intake client's errors.

    BusError
    ├── IntakeFull       the ledger's backlog is at its cap: shed load (503)
    ├── ReplyTimeout     no reply in time: the outcome is unknown (504), ask again by id
    ├── BusUnavailable   Redis cannot be reached (503)
    └── GuardRefused     the bet guard refused before the ledger saw it
        ├── NoSession        the session is gone (logged out or expired)
        ├── ReplayedNonce    this nonce was used already
        └── RateLimited      the wallet's bucket is empty; `retry_after_ms`
    """


class IntakeFull(BusError):
    pass


class ReplyTimeout(BusError):
    pass


class BusUnavailable(BusError):
    pass


class GuardRefused(BusError):
    pass


class NoSession(GuardRefused):
    pass


class ReplayedNonce(GuardRefused):
    pass


class RateLimited(GuardRefused):
    def __init__(self, retry_after_ms: int) -> None:
        super().__init__(f"rate limited; retry in {retry_after_ms} ms")
        self.retry_after_ms = retry_after_ms


@dataclass(frozen=True, slots=True)
class BetGuard:
    """What the bet guard checks in Redis for one bet."""

    session_key: str  # "" for wallet-signed bets
    nonce_key: str
    rate_key: str
    rate_per_s: float
    burst: int


class IntakeClient:
    """Submits commands to the ledger and routes its replies back to the waiting callers.

    One long-lived subscription on this client's reply channel serves every waiting caller. The
    intake's scripts (the bet guard, the one call every bet makes, and the plain submission) run on a
    pipelined connection of their own (`ScriptLane`).
    """

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        intake_max_len: int,
        reply_timeout_ms: int,
    ) -> None:
        self._redis = redis
        self._max_len = intake_max_len
        self._timeout_s = reply_timeout_ms / 1000
        self.client_id = uuid.uuid4().hex  # this client's alone: its replies come on a channel of its own
        self.channel = reply_channel(self.client_id)
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        # A request id routes a reply to its caller and names the request in the ledger's log: this
        # client's id and a counter are unique, and cheaper per bet than a uuid4 (1.7 µs against 0.2: a
        # getrandom system call and a UUID object).
        self._request_ids = itertools.count()
        self._request_prefix = f"{self.client_id[:12]}-"
        self._scripts = ScriptLane.for_client(redis)
        where = redis.connection_pool.connection_kwargs
        self._replies = Subscription(where, [self.channel], self._on_replies, name="reply", timeout_s=5.0)

    async def start(self) -> None:
        # Subscribed before the first command goes out, so that no reply is published before we listen.
        await self._replies.start()

    async def close(self) -> None:
        self._scripts.close()
        await self._replies.close()
        for future in self._waiting.values():
            future.cancel()

    async def submit(self, command: Command, timeout_s: float | None = None) -> Reply:
        """Queue a money command for the ledger and wait for its answer."""

        async def send(envelope: bytes) -> None:
            if await self._scripts.run(_SUBMIT, [INTAKE_STREAM], [envelope, self._max_len]) is None:
                raise IntakeFull("the ledger's intake backlog is full")

        return await self._round_trip(command, send, timeout_s)

    async def submit_bet(self, command: Command, guard: BetGuard, timeout_s: float | None = None) -> Reply:
        """Session, nonce, rate limit and queueing in one Redis round trip; then wait for the ledger."""

        async def send(envelope: bytes) -> None:
            keys = [guard.session_key, guard.nonce_key, guard.rate_key, INTAKE_STREAM]
            args: list[int | float | bytes] = [
                BET_NONCE_TTL_S,
                guard.rate_per_s,
                guard.burst,
                self._max_len,
                envelope,
            ]
            verdict = await self._scripts.run(_PLACE_BET, keys, args)
            outcome = verdict[0].decode() if isinstance(verdict[0], bytes) else verdict[0]
            if outcome == "ok":
                return
            if outcome == "no_session":
                raise NoSession("the session has ended")
            if outcome == "replayed":
                raise ReplayedNonce("this nonce was used already")
            if outcome == "rate":
                raise RateLimited(int(verdict[1]))
            raise IntakeFull("the ledger's intake backlog is full")

        return await self._round_trip(command, send, timeout_s)

    async def _round_trip(
        self, command: Command, send: Callable[[bytes], Awaitable[None]], timeout_s: float | None
    ) -> Reply:
        request_id = f"{self._request_prefix}{next(self._request_ids):x}"
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            envelope = encode(Envelope(request_id=request_id, reply_to=self.channel, command=command))
            try:
                await send(envelope)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                if never_sent(exc):
                    raise BusUnavailable(str(exc)) from exc
                # The command may have left: Redis runs what is in its socket even after we gave up.
                raise ReplyTimeout(f"Redis did not answer request {request_id}: {exc}") from exc
            except ResponseError as exc:
                if not refuses_writes(exc):
                    raise
                raise BusUnavailable(f"Redis refuses writes: {exc}") from exc
            # A timer on the future itself: cheaper per bet than asyncio.wait_for's extra waiter.
            timer = asyncio.get_running_loop().call_later(timeout_s or self._timeout_s, _expire, future)
            try:
                return await future
            except TimeoutError as exc:
                raise ReplyTimeout(f"no reply from the ledger for request {request_id}") from exc
            finally:
                timer.cancel()
        finally:
            self._waiting.pop(request_id, None)

    def _on_replies(self, _channel: str, payload: bytes) -> None:
        try:
            replies = decode_replies(payload)
        except ValueError:
            log.error("reply_undecodable", size=len(payload))
            return
        for reply in replies:
            future = self._waiting.get(reply.request_id)
            if future is not None and not future.done():
                future.set_result(reply)


def never_sent(exc: Exception) -> bool:
    """The error came before the command left (no free connection, or none could be made), so the
    command certainly did not run. Any other failure — a read that timed out, a connection closed under
    it — leaves its outcome unknown. (redis-py says which only in its messages; the lane by its type.)"""
    if isinstance(exc, LaneNotSent):
        return True
    text = str(exc)
    return text.startswith(("No connection available", "Timeout connecting")) or " connecting to " in text


def refuses_writes(exc: ResponseError) -> bool:
    """Redis is up but refuses every write for now: it cannot persist (MISCONF: its disk is full or
    failing) or its memory is full (OOM). Both pass without us: it is unavailability, not a bug."""
    return isinstance(exc, OutOfMemoryError) or str(exc).startswith("MISCONF")


def _expire(future: asyncio.Future[Reply]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


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
