"""Redis on the wire for the gateway's two hot paths, where redis-py's general machinery cost more CPU than
the work: the intake's Lua scripts, the bet guard above all (`ScriptLane`), and the subscriptions that
carry the ledger's replies and events (`Subscription`). Everything else goes through redis-py.

`ScriptLane`: the bet guard is the one Redis call every bet makes. Through redis-py's pool each call
checks a connection out and back in, arms a read timeout and writes its own packet: a profile of a
gateway worker at 1,500 bets/s put 19 % of the worker's CPU in that call, a third of it the pool's
checkout. Here the callers share one connection instead: each call packs its EVALSHA (hiredis, in C)
onto a buffer that is written once per event-loop turn, and Redis's replies, which come back in the
order the commands went out, are parsed in bulk (hiredis) and handed to the callers' futures in that
order. Redis runs the commands one after another either way; what goes away is the per-call client
machinery. Failures keep the meaning the bet path gives them (`bus.never_sent`): a call that could not
connect never ran (`LaneNotSent`); a call already written when the connection broke, or unanswered after
`timeout_s` (a stopped or stalled Redis), may have run (`LaneUnknown`). Either way the connection is
dropped and the next call makes a new one: a restarted Redis needs nothing from us.

`Subscription`: redis-py's pub/sub is read by polling `get_message`, a timeout and a parse per message
(10 % of the same profile, for one message per ledger batch). Here each message is handed to a callback
as it is parsed, from the connection's own `data_received`; a lost connection is made again (with
backoff) and subscribed again. As with any Redis subscription, what is published while it is down is
not seen.

Connections are described as redis-py describes its pool's (`connection_kwargs`: `path` or
`host`/`port`, and `db`, `username`, `password`), so both follow the client's URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import hiredis
from redis.exceptions import (
    BusyLoadingError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)

from taptrade.obs.logging import get_logger

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = get_logger(__name__)

# Redis's error replies that the bet path tells apart, by their first word (as redis-py maps them).
_ERRORS: dict[str, type[ResponseError]] = {
    "NOSCRIPT": NoScriptError,
    "OOM": OutOfMemoryError,
    "READONLY": ReadOnlyError,
}


class LaneNotSent(ConnectionError):
    """No connection to Redis could be made: the command did not run."""


class LaneUnknown(ConnectionError):
    """The command was sent but no answer came (connection lost, or none within the timeout): it may
    have run."""


def redis_error(text: str) -> Exception:
    """The exception redis-py would raise for this error reply."""
    if text.startswith("LOADING"):
        return BusyLoadingError(text)  # Redis is loading its data after a restart: nothing ran
    kind = _ERRORS.get(text.split(" ", 1)[0])
    return (kind or ResponseError)(text)


class _LaneProtocol(asyncio.Protocol):
    def __init__(self, lane: ScriptLane) -> None:
        self._lane = lane
        self._reader = hiredis.Reader()
        self.transport: asyncio.Transport | None = None
        # Oldest first: (monotonic time the command was queued, its caller's future).
        self.pending: deque[tuple[float, asyncio.Future[Any]]] = deque()
        self._out: list[bytes] = []
        self._flush_scheduled = False
        self._setup: set[asyncio.Future[Any]] = set()  # the connection's AUTH and SELECT
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not asyncio.Transport subclasses

    def send(self, packed: bytes, future: asyncio.Future[Any], *, setup: bool = False) -> None:
        if setup:
            self._setup.add(future)
        self.pending.append((time.monotonic(), future))
        self._out.append(packed)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and self.transport is not None and not self.lost:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        pending = self.pending
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self.fail(LaneUnknown(f"Redis sent what is not RESP: {exc}"))
                return
            if reply is False:
                return
            if not pending:
                self.fail(LaneUnknown("Redis answered a command that was not sent"))
                return
            _, future = pending.popleft()
            if future in self._setup:
                self._setup.discard(future)
                if isinstance(reply, hiredis.ReplyError):
                    # Refused (a wrong password): Redis runs nothing else on this connection.
                    self.fail(LaneNotSent(f"Redis refused the connection's setup: {reply}"))
                    return
                continue
            if future.done():  # its caller was cancelled
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(redis_error(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(LaneUnknown(f"connection to Redis lost: {exc or 'closed by the server'}"))

    def fail(self, error: Exception) -> None:
        """Drop the connection and fail every caller still waiting on it."""
        if not self.lost:
            self.lost = True
            self._lane.forget(self)
            if self.transport is not None:
                self.transport.abort()
        while self.pending:
            _, future = self.pending.popleft()
            if not future.done():
                future.set_exception(error)


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script and the SHA1 Redis knows it by."""

    source: bytes
    sha: bytes

    @classmethod
    def of(cls, source: str) -> Script:
        encoded = source.encode()
        return cls(encoded, hashlib.sha1(encoded, usedforsecurity=False).hexdigest().encode())


class ScriptLane:
    """Runs Lua scripts by their SHA1 (`EVALSHA`, loaded again if Redis has forgotten them) for
    concurrent callers over one pipelined connection."""

    def __init__(self, connection_kwargs: Mapping[str, Any], timeout_s: float) -> None:
        self._where = dict(connection_kwargs)
        self._timeout_s = timeout_s
        self._protocol: _LaneProtocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    @classmethod
    def for_client(cls, client: aioredis.Redis) -> ScriptLane:
        """A lane to the Redis that `client` uses: its address, credentials and command timeout."""
        where = client.connection_pool.connection_kwargs
        return cls(where, where.get("socket_timeout") or 2.0)

    async def run(self, script: Script, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self.command(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.command(b"SCRIPT", b"LOAD", script.source)
            return await self.command(b"EVALSHA", script.sha, len(keys), *keys, *args)

    async def command(self, *parts: Any) -> Any:
        """Any command, pipelined with the rest; its reply as hiredis parses it (bytes, lists, ints)."""
        protocol = self._protocol
        if protocol is None or protocol.lost:
            protocol = await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        protocol.send(hiredis.pack_command(parts), future)
        if self._watchdog is None:
            self._watchdog = asyncio.get_running_loop().call_later(self._timeout_s, self._watch)
        return await future

    def _watch(self) -> None:
        """Once per `timeout_s` at most: a connection whose oldest command is that old is stalled."""
        self._watchdog = None
        protocol = self._protocol
        if protocol is None or not protocol.pending:
            return
        waited_s = time.monotonic() - protocol.pending[0][0]
        if waited_s >= self._timeout_s:
            protocol.fail(LaneUnknown(f"Redis did not answer within {self._timeout_s} s"))
            return
        self._watchdog = asyncio.get_running_loop().call_later(self._timeout_s - waited_s, self._watch)

    async def _connect(self) -> _LaneProtocol:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._protocol is not None and not self._protocol.lost:
                return self._protocol  # another caller connected while this one waited
            loop = asyncio.get_running_loop()
            where = self._where
            protocol = await _open(where, lambda: _LaneProtocol(self), self._timeout_s)
            for command in _handshake(where):
                # Queued ahead of every caller's command; a refusal drops the connection (and them).
                protocol.send(hiredis.pack_command(command), loop.create_future(), setup=True)
            self._protocol = protocol
            return protocol

    def forget(self, protocol: _LaneProtocol) -> None:
        if self._protocol is protocol:
            self._protocol = None

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._protocol is not None:
            self._protocol.fail(LaneUnknown("the lane was closed"))


_P = TypeVar("_P", bound=asyncio.Protocol)

# A lost subscription is tried again after 0.05 s, doubling up to this. Redis is on the same host: a try
# while it is down costs a refused connect, and a long wait is time the gateway goes on answering 503
# after Redis is back (with 2 s, 3.2 s of 503s after a 10 s outage, docs/reliability.md).
RECONNECT_BACKOFF_MAX_S = 0.5


async def _open(where: Mapping[str, Any], factory: Callable[[], _P], timeout_s: float) -> _P:
    loop = asyncio.get_running_loop()
    try:
        if where.get("path"):
            opening = loop.create_unix_connection(factory, where["path"])
        else:
            opening = loop.create_connection(factory, where.get("host", "localhost"), where.get("port", 6379))
        _, protocol = await asyncio.wait_for(opening, timeout_s)
    except (OSError, TimeoutError) as exc:
        raise LaneNotSent(f"Error connecting to Redis: {exc or 'timed out'}") from exc
    return protocol


def _handshake(where: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    commands: list[tuple[Any, ...]] = []
    if where.get("password"):
        user = where.get("username")
        commands.append(("AUTH", user, where["password"]) if user else ("AUTH", where["password"]))
    if where.get("db"):
        commands.append(("SELECT", where["db"]))
    return commands


class _SubscriberProtocol(asyncio.Protocol):
    def __init__(self, on_message: Callable[[str, bytes], None], expected: int) -> None:
        self._on_message = on_message
        self._reader = hiredis.Reader()
        self._expected = expected
        self.transport: asyncio.Transport | None = None
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError as exc:
                self.shut(f"Redis sent what is not RESP: {exc}")
                return
            if reply is False:
                return
            if isinstance(reply, hiredis.ReplyError):  # a refused AUTH or SELECT
                self.shut(f"Redis refused the subscription: {reply}")
                return
            if not isinstance(reply, list) or len(reply) != 3:
                continue  # AUTH's and SELECT's OK
            kind, channel, payload = reply
            if kind == b"message":
                try:
                    self._on_message(channel.decode(), payload)
                except Exception:  # one bad message must not end the subscription
                    log.exception("subscription_message_failed", channel=channel.decode())
            elif kind == b"subscribe" and payload == self._expected and not self.subscribed.done():
                self.subscribed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.shut(f"connection lost: {exc or 'closed by the server'}")

    def shut(self, why: str) -> None:
        if not self.closed.done():
            self.closed.set_result(why)
        if not self.subscribed.done():
            self.subscribed.set_exception(LaneNotSent(why))
            self.subscribed.exception()  # retrieved here: start() may not be waiting
        if self.transport is not None:
            self.transport.abort()


class Subscription:
    """`on_message(channel, payload)` for every message published on `channels`, called from the event
    loop as each is read (it must not block). Subscribed again after a lost connection."""

    def __init__(
        self,
        connection_kwargs: Mapping[str, Any],
        channels: list[str],
        on_message: Callable[[str, bytes], None],
        *,
        name: str,
        timeout_s: float = 2.0,
    ) -> None:
        self._where = dict(connection_kwargs)
        self._channels = channels
        self._on_message = on_message
        self._name = name
        self._timeout_s = timeout_s
        self._protocol: _SubscriberProtocol | None = None
        self._keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribed when this returns: nothing published after it is missed (while connected)."""
        self._protocol = await self._subscribe()
        self._keeper = asyncio.create_task(self._keep(), name=f"subscription-{self._name}")

    async def _subscribe(self) -> _SubscriberProtocol:
        protocol: _SubscriberProtocol = await _open(
            self._where, lambda: _SubscriberProtocol(self._on_message, len(self._channels)), self._timeout_s
        )
        assert protocol.transport is not None
        commands = [*_handshake(self._where), ("SUBSCRIBE", *self._channels)]
        protocol.transport.write(b"".join(hiredis.pack_command(c) for c in commands))
        try:
            await asyncio.wait_for(asyncio.shield(protocol.subscribed), self._timeout_s)
        except TimeoutError:
            protocol.shut("no subscription confirmed in time")
            raise LaneNotSent(f"Redis did not confirm the subscription to {self._channels}") from None
        return protocol

    async def _keep(self) -> None:
        backoff_s = 0.05
        while True:
            assert self._protocol is not None
            why = await self._protocol.closed
            while True:
                log.warning(f"{self._name}_subscription_lost", error=why, retry_in_s=backoff_s)
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, RECONNECT_BACKOFF_MAX_S)
                try:
                    self._protocol = await self._subscribe()
                except LaneNotSent as exc:
                    why = str(exc)
                    continue
                backoff_s = 0.05
                log.info(f"{self._name}_subscription_restored")
                break

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        if self._protocol is not None:
            self._protocol.shut("closed")
