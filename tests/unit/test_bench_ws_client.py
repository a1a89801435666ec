"""The fan-out loader's WebSocket client against a real WebSocket server (the `websockets` library): the
handshake checked, messages of every length encoding and in fragments delivered whole, pings answered, the
server's close code reported, a server that does not switch protocols refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from bench.ws_client import HandshakeError, accept_key, open_listener
from websockets.asyncio.server import ServerConnection, serve

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def ws_server(handler: Handler) -> AsyncIterator[int]:
    async with serve(handler, "127.0.0.1", 0, compression=None) as server:
        yield server.sockets[0].getsockname()[1]


async def test_messages_whole_pings_answered_and_the_close_code_reported() -> None:
    texts = ["x" * 10, "y" * 200, "z" * 70_000]  # the 7-bit, 16-bit and 64-bit length forms
    ponged = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        for text in texts:
            await ws.send(text)
        await ws.send(iter(["frag", "ment", "ed"]))  # one message in three frames
        await asyncio.wait_for(await ws.ping(b"are you there"), 5)
        ponged.set()
        await ws.close(4001, "done")

    got: list[tuple[bytes, float]] = []
    async with ws_server(handler) as port:
        listener = await open_listener("127.0.0.1", port, "/ws", lambda m, at: got.append((m, at)), 5)
        assert await asyncio.wait_for(listener.closed, 5) == 4001
    assert ponged.is_set()
    assert [m for m, _ in got] == [t.encode() for t in texts] + [b"fragmented"]
    assert all(at > 1_700_000_000_000 for _, at in got)  # stamped in Unix ms


async def test_closing_from_the_client_completes_the_handshake() -> None:
    closed_with: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()
        closed_with.append(ws.close_code)

    async with ws_server(handler) as port:
        listener = await open_listener("127.0.0.1", port, "/", lambda m, at: None, 5)
        listener.close()
        assert await asyncio.wait_for(listener.closed, 5) == 1000
        await asyncio.sleep(0.1)
    assert closed_with == [1000]


async def test_a_server_that_does_not_switch_protocols_is_refused() -> None:
    async def http_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(http_only, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(HandshakeError, match="404"):
            await open_listener("127.0.0.1", port, "/ws", lambda m, at: None, 5)
    finally:
        server.close()
        await server.wait_closed()


def test_the_accept_key_is_the_rfcs_example() -> None:
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3
