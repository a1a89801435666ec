"""`HeadWithBody`: an answer's head held until its body, both written at once; later writes not held."""

from __future__ import annotations

import asyncio
from typing import cast

from taptrade.gateway.http_protocol import HeadWithBody


class Socket:
    """What reached the socket, write by write."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return False


def test_the_head_waits_for_the_body_and_they_go_out_in_one_write() -> None:
    socket = Socket()
    transport = HeadWithBody(cast(asyncio.Transport, socket))
    transport.write(b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n")
    assert socket.writes == []
    transport.write(b"{}")
    assert socket.writes == [b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n{}"]


def test_an_empty_body_still_sends_the_head() -> None:
    socket = Socket()
    transport = HeadWithBody(cast(asyncio.Transport, socket))
    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")
    transport.write(b"")
    assert socket.writes == [b"HTTP/1.1 204 No Content\r\n\r\n"]


def test_a_streamed_answers_later_chunks_go_out_as_they_come() -> None:
    socket = Socket()
    transport = HeadWithBody(cast(asyncio.Transport, socket))
    for chunk in (b"HEAD\r\n\r\n", b"a", b"b", b"c"):
        transport.write(chunk)
    assert socket.writes == [b"HEAD\r\n\r\na", b"b", b"c"]
    assert transport.is_closing() is False  # the rest is the socket's own
