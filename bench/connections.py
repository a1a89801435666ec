"""The loader's keep-alive HTTP/1.1 connections: one request in flight on each, answers parsed from the bytes
as they arrive (an asyncio Protocol, no task or stream per request), so the loader, which shares the
machine with the server, spends as little of it as it can.

A `Links` pool sends each request on an idle connection or holds it in a backlog until one is free (the
open loop's requests leave on time; one waiting for a connection is late, and its latency says so). It
reports each answer, or each request that timed out or lost its connection, to its owner's callbacks,
and opens a new connection for one that was lost, retrying while the server refuses.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar, cast

Job = TypeVar("Job")
Build = Callable[[Job], bytes]
Answered = Callable[[Job, int, bytes, bool, float], None]  # job, status, body, retry-after, answer time
Failed = Callable[[Job], None]

RECONNECT_S = 0.05
TIMEOUT_SCAN_S = 0.25


def parse_head(head: bytes) -> tuple[int, int, bool]:
    """An HTTP/1.1 answer's status, its Content-Length (0 without one) and whether a Retry-After came,
    from its head without the blank line that ends it."""
    head = head.lower()
    length_at = head.find(b"\r\ncontent-length:")
    length = 0
    if length_at >= 0:
        line_end = head.find(b"\r\n", length_at + 2)
        length = int(head[length_at + 17 : line_end if line_end >= 0 else len(head)])
    return int(head[9:12]), length, b"\r\nretry-after:" in head


class Link(asyncio.Protocol, Generic[Job]):
    """One connection and the request in flight on it, if any."""

    def __init__(self, links: Links[Job]) -> None:
        self.links = links
        self.transport: asyncio.Transport | None = None
        self.job: Job | None = None
        self.sent_at = 0.0
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, not a subclass
        self.links.ready(self)

    def send(self, job: Job, request: bytes) -> None:
        assert self.transport is not None
        self.job, self.sent_at = job, time.monotonic()
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        status, length, retry_after = parse_head(bytes(buffer[:head_end]))
        if len(buffer) < head_end + 4 + length:
            return
        body = bytes(buffer[head_end + 4 : head_end + 4 + length])
        del buffer[: head_end + 4 + length]
        job, self.job = self.job, None
        if job is not None:
            self.links.answered(self, job, status, body, retry_after, time.time())

    def connection_lost(self, exc: Exception | None) -> None:
        job, self.job = self.job, None
        self.transport = None
        self.links.lost(self, job)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Links(Generic[Job]):
    """`count` connections to `host:port` and the requests waiting for one."""

    def __init__(
        self,
        host: str,
        port: int,
        count: int,
        build: Build[Job],
        on_answer: Answered[Job],
        on_failure: Failed[Job],
        timeout_s: float,
    ) -> None:
        self.host, self.port, self.count, self.build = host, port, count, build
        self.on_answer, self.on_failure, self.timeout_s = on_answer, on_failure, timeout_s
        self.idle: list[Link[Job]] = []
        self.busy: set[Link[Job]] = set()
        self.backlog: deque[Job] = deque()
        self.closing = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        await asyncio.gather(*(self._connect() for _ in range(self.count)))
        self._spawn(self._expire())

    def submit(self, job: Job) -> None:
        """Send `job` now if a connection is free, else as soon as one is (its bytes built then)."""
        if self.idle:
            self._send(self.idle.pop(), job)
        else:
            self.backlog.append(job)

    def waiting(self) -> int:
        return len(self.backlog)

    def close(self) -> None:
        self.closing = True
        for task in self._tasks:
            task.cancel()
        for link in [*self.idle, *self.busy]:
            link.abort()

    # --- from the connections ---

    def ready(self, link: Link[Job]) -> None:
        if self.backlog:
            self._send(link, self.backlog.popleft())
        else:
            self.idle.append(link)

    def answered(
        self, link: Link[Job], job: Job, status: int, body: bytes, retry_after: bool, at: float
    ) -> None:
        self.busy.discard(link)
        self.on_answer(job, status, body, retry_after, at)
        self.ready(link)

    def lost(self, link: Link[Job], job: Job | None) -> None:
        self.busy.discard(link)
        if link in self.idle:
            self.idle.remove(link)
        if job is not None:
            self.on_failure(job)
        if not self.closing:
            self._spawn(self._connect())

    # ---

    def _send(self, link: Link[Job], job: Job) -> None:
        if link.transport is None or link.transport.is_closing():
            self.backlog.appendleft(job)  # the next connection takes it; this one's loss opens another
            return
        self.busy.add(link)
        link.send(job, self.build(job))

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closing:
            try:
                await loop.create_connection(lambda: Link(self), self.host, self.port)
                return
            except OSError:  # the server refuses (a gateway worker being restarted): try again shortly
                await asyncio.sleep(RECONNECT_S)

    async def _expire(self) -> None:
        """Abort the connection of a request not answered within the timeout (its loss reports it)."""
        while True:
            await asyncio.sleep(TIMEOUT_SCAN_S)
            deadline = time.monotonic() - self.timeout_s
            for link in [link for link in self.busy if link.sent_at < deadline]:
                link.abort()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
