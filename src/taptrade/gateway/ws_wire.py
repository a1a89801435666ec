"""Writing WebSocket messages framed once to many clients: uvicorn's sans-I/O WebSocket protocol, which also
hands the app a `Wire` to its socket.

A price goes to every client of a worker. Through the ASGI `send` each copy was framed again and written by
a task of its own (the client's sender woke, the framework's send wrappers ran, the protocol framed it):
about 25 µs of a worker per message and client, so at 1,000 clients a tick took 25 ms to get out and a
quote table longer, and a tick that arrived meanwhile waited behind it (docs/benchmarks.md). With a `Wire`
the hub frames a message once (`text_frame`) and writes the same bytes to each socket that is taking
data, in one pass; a client whose socket is not (the kernel's buffer and the transport's are full) gets its
messages from its own sender task, which waits for the socket as before.

This reaches into uvicorn (`BroadcastWebSocketProtocol` subclasses its `WebSocketsSansIOProtocol`, and a
`Wire` reads its `writable`, `close_sent` and `disconnected`): the version is pinned (constraints.txt) and
tests/integration/test_gateway_ws.py runs the real protocol. The frames written here are whole, unmasked
server frames with no extension (the server negotiates none), so they interleave safely with what the
protocol itself writes (the handshake, pings, the close), which it also writes whole.
"""

from __future__ import annotations

from typing import Protocol

from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request

WIRE_EXTENSION = "taptrade.wire"  # the ASGI scope's extension that carries the protocol


def text_frame(text: bytes) -> bytes:
    """One final, unmasked text frame (as a server sends it) holding `text`."""
    return Frame(Opcode.TEXT, text).serialize(mask=False)


class Wire(Protocol):
    """What the hub needs of one client's socket."""

    @property
    def open(self) -> bool:
        """The handshake is done and no close has been sent or received: frames may be written."""

    @property
    def writable(self) -> bool:
        """The transport is taking data (it has not asked its writer to pause)."""

    async def wait_writable(self) -> None:
        """Until the transport takes data again, or the connection is gone."""

    def write(self, frame: bytes) -> None:
        """Write a whole frame (`text_frame`)."""


class ProtocolWire:
    """A `Wire` on uvicorn's protocol object for one connection."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @property
    def open(self) -> bool:
        p = self._protocol
        return p.handshake_complete and not (p.close_sent or p.disconnected or p.transport.is_closing())

    @property
    def writable(self) -> bool:
        return self._protocol.writable.is_set()

    async def wait_writable(self) -> None:
        await self._protocol.writable.wait()  # set again when the connection is lost, too

    def write(self, frame: bytes) -> None:
        self._protocol.transport.write(frame)


class BroadcastWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, naming itself in the connection's scope for `wire_of`."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][WIRE_EXTENSION] = {"wire": ProtocolWire(self)}


def wire_of(websocket: WebSocket) -> Wire:
    """The socket under an accepted WebSocket served by `BroadcastWebSocketProtocol`."""
    try:
        wire: Wire = websocket.scope["extensions"][WIRE_EXTENSION]["wire"]
    except KeyError:
        raise RuntimeError("the gateway's WebSockets must be served by BroadcastWebSocketProtocol") from None
    return wire
