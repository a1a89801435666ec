"""The gateway's HTTP/1.1 protocol: uvicorn's httptools protocol, with each answer's head and body written to
the socket together.

uvicorn writes a response's head when the app starts it and its body when the app sends it: two `send`
system calls, and often two reads for the client, for every answer. In a profile of a worker at 1,500
bets a second they were 13 % of its time (docs/benchmarks.md). `HeadWithBody` holds the head until the
first body write and writes both at once; after that, writes go straight through, so a streamed answer's
later chunks are not held. Not for HEAD requests (uvicorn writes no body for them) nor for a request that
expects `100 Continue` (that interim answer must go out before the request's body can arrive).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadWithBody:
    """A transport that holds the first write (an answer's head) until the second (its body)."""

    __slots__ = ("_head", "_passing", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._head: bytes | None = None
        self._passing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._passing:
            self._transport.write(data)
        elif self._head is None:
            self._head = bytes(data)
        else:
            self._transport.write(self._head + data)
            self._head, self._passing = None, True

    def __getattr__(self, name: str) -> Any:  # is_closing, close, get_extra_info: the socket's own
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        new_request = cycle is not None and cycle is not before  # an upgrade to WebSocket makes no cycle
        if new_request and self.scope["method"] != "HEAD" and not self.expect_100_continue:
            cycle.transport = HeadWithBody(self.transport)  # type: ignore[assignment]
