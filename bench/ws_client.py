"""The fan-out loader's WebSocket client: an asyncio Protocol that does the RFC 6455 opening handshake and
reads the server's frames straight from the bytes as they arrive, stamping each message with the time its
bytes were read.

Why not the `websockets` client the rest of the project would use: the loader shares two cores with the
server it measures, and at 2,000 clients the library's client (a frame parser, a queue and an async
iterator per connection) took 60 µs of the loader's CPU per message — more than the server spent sending
it — and the time a message waited for the loader's own event loop counted as the server's delay. This
client needs only what a listener needs: unmasked frames from the server (text, ping, close; fragments
joined), masked pong and close frames to it, and no extensions (the client offers none).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Callable
from typing import cast

ACCEPT_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
CLOSE_NORMAL = 1000
CLOSE_NO_STATUS = 1005
CLOSE_ABNORMAL = 1006

# (message text, the Unix ms its last bytes were read at)
OnMessage = Callable[[bytes, float], None]


class HandshakeError(Exception):
    """The server did not switch protocols as RFC 6455 says it must."""


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + ACCEPT_GUID).digest())  # nosec B324: the RFC's digest


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A final, masked frame (a client's frames must be masked) of a payload under 126 bytes."""
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + mask + masked


class Listener(asyncio.Protocol):
    """One client connection that listens: every text message goes to `on_message`."""

    def __init__(self, host: str, port: int, path: str, on_message: OnMessage) -> None:
        self._key = base64.b64encode(os.urandom(16))
        self._request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self._key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self._on_message = on_message
        self._buffer = bytearray()
        self._fragments: list[bytes] = []
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        self.local_port = 0
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[int] = loop.create_future()  # the close code the server sent, or 1006

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one, not a subclass
        self.local_port = transport.get_extra_info("sockname")[1]
        self.transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(f"connection lost during the handshake: {exc}"))
        self._finish(CLOSE_ABNORMAL)

    def data_received(self, data: bytes) -> None:
        received_ms = time.time() * 1000
        buffer = self._buffer
        buffer += data
        if not self._upgraded and not self._handshake():
            return
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, at = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, at = int.from_bytes(buffer[2:4]), 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, at = int.from_bytes(buffer[2:10]), 10
            if second & 0x80:
                self._fail("the server masked a frame")
                return
            end = at + length
            if len(buffer) < end:
                return
            payload = bytes(buffer[at:end])
            del buffer[:end]
            self._frame(first & 0x0F, bool(first & 0x80), payload, received_ms)

    def _handshake(self) -> bool:
        """Consume the server's answer once it is all here; True once upgraded."""
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self._buffer[:end]).lower()
        del self._buffer[: end + 4]
        expected = b"\r\nsec-websocket-accept: " + accept_key(self._key).lower()
        if not head.startswith(b"http/1.1 101") or expected not in head:
            status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
            self._fail(f"no switch to WebSocket: {status_line}")
            return False
        self._upgraded = True
        self.opened.set_result(None)
        return True

    def _frame(self, opcode: int, final: bool, payload: bytes, received_ms: float) -> None:
        if opcode in (OP_TEXT, OP_BINARY, OP_CONTINUATION):
            if not final:
                self._fragments.append(payload)
                return
            if self._fragments:
                payload = b"".join((*self._fragments, payload))
                self._fragments.clear()
            self._on_message(payload, received_ms)
        elif opcode == OP_PING:
            self._write(client_frame(OP_PONG, payload[:125]))
        elif opcode == OP_CLOSE:
            code = int.from_bytes(payload[:2]) if len(payload) >= 2 else CLOSE_NO_STATUS
            self._write(client_frame(OP_CLOSE, payload[:2]))  # the closing handshake: echo the code
            self._finish(code)
            if self.transport is not None:
                self.transport.close()

    def close(self) -> None:
        """Start the closing handshake; `closed` resolves when the server answers or the socket ends."""
        self._write(client_frame(OP_CLOSE, CLOSE_NORMAL.to_bytes(2)))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _write(self, frame: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame)

    def _finish(self, code: int) -> None:
        if not self.closed.done():
            self.closed.set_result(code)

    def _fail(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(reason))
        self.abort()


async def open_listener(host: str, port: int, path: str, on_message: OnMessage, timeout_s: float) -> Listener:
    """A connected, upgraded listener; raises OSError, HandshakeError or TimeoutError."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        _, listener = await loop.create_connection(lambda: Listener(host, port, path, on_message), host, port)
        try:
            await listener.opened
        except BaseException:
            listener.abort()
            raise
    return listener
