"""One Lua script, run for many concurrent callers over one pipelined Redis connection of its own.

The bet guard is the one Redis call every bet makes. Through redis-py's pool each call checks a
connection out and back in, arms a read timeout and writes its own packet: a profile of a gateway worker
at 1,500 bets/s put 19 % of the worker's CPU in that call, a third of it the pool's checkout. Here the
callers share one connection instead: each call packs its EVALSHA (hiredis, in C) onto a buffer that is
written once per event-loop turn, and Redis's replies, which come back in the order the commands went
out, are parsed in bulk (hiredis) and handed to the callers' futures in that order. Redis runs the
commands one after another either way; what goes away is the per-call client machinery.

Failures keep the meaning the bet path gives them (`bus.never_sent`): a call that could not connect
never ran (`LaneNotSent`); a call already written when the connection broke, or unanswered after
`timeout_s` (a stopped or stalled Redis), may have run (`LaneUnknown`). Either way the connection is
dropped and the next call makes a new one: a restarted Redis needs nothing from us.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, cast

import hiredis
from redis.exceptions import (
    BusyLoadingError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    ResponseError,
)

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


class ScriptLane:
    """Runs `source` by its SHA1 (`EVALSHA`, loaded again if Redis has forgotten it) on a connection
    described as redis-py describes its pool's (`connection_kwargs`: `path` or `host`/`port`, and
    `db`, `username`, `password`)."""

    def __init__(self, connection_kwargs: Mapping[str, Any], source: str, timeout_s: float) -> None:
        self._where = dict(connection_kwargs)
        self._source = source.encode()
        self._sha = hashlib.sha1(self._source, usedforsecurity=False).hexdigest().encode()
        self._timeout_s = timeout_s
        self._protocol: _LaneProtocol | None = None
        self._connecting: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._command(b"EVALSHA", self._sha, len(keys), *keys, *args)
        except NoScriptError:
            await self._command(b"SCRIPT", b"LOAD", self._source)
            return await self._command(b"EVALSHA", self._sha, len(keys), *keys, *args)

    async def _command(self, *parts: Any) -> Any:
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
            try:
                if where.get("path"):
                    opening = loop.create_unix_connection(lambda: _LaneProtocol(self), where["path"])
                else:
                    opening = loop.create_connection(
                        lambda: _LaneProtocol(self), where.get("host", "localhost"), where.get("port", 6379)
                    )
                _, protocol = await asyncio.wait_for(opening, self._timeout_s)
            except (OSError, TimeoutError) as exc:
                raise LaneNotSent(f"Error connecting to Redis: {exc or 'timed out'}") from exc
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


def _handshake(where: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    commands: list[tuple[Any, ...]] = []
    if where.get("password"):
        user = where.get("username")
        commands.append(("AUTH", user, where["password"]) if user else ("AUTH", where["password"]))
    if where.get("db"):
        commands.append(("SELECT", where["db"]))
    return commands
