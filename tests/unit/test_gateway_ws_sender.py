"""A WebSocket client's outgoing messages: written at once while the socket takes data; held while it does
not, and then sent own events first, the newest price, the newest quote table; a peer that has gone ends
the sender quietly; a client the watchdog gives up on, or whose queue overflows, is closed with 1013.
(The wires here stand in for a socket; the fan-out through real connections is tested in
tests/integration/test_gateway_ws.py.)"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from starlette.websockets import WebSocketState

from taptrade.gateway.ws import CLOSE_TRY_AGAIN, QUEUE_MAX, Client


class FakeWire:
    """A socket that takes data or not, as the test says."""

    def __init__(self, *, writable: bool = True) -> None:
        self.written: list[bytes] = []
        self.open = True
        self._writable = asyncio.Event()
        if writable:
            self._writable.set()

    @property
    def writable(self) -> bool:
        return self._writable.is_set()

    def set_writable(self, writable: bool) -> None:
        if writable:
            self._writable.set()
        else:
            self._writable.clear()

    async def wait_writable(self) -> None:
        await self._writable.wait()

    def write(self, frame: bytes) -> None:
        assert self.open, "written after the connection closed"
        self.written.append(frame)


class ClosingSocket:
    application_state = WebSocketState.CONNECTED

    def __init__(self) -> None:
        self.closed_with: tuple[int, str] | None = None

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


def client_on(wire: FakeWire) -> tuple[Client, ClosingSocket]:
    socket = ClosingSocket()
    return Client(cast(Any, socket), cast(Any, wire)), socket


async def test_a_socket_that_takes_data_gets_each_message_at_once_without_the_sender() -> None:
    wire = FakeWire()
    client, _ = client_on(wire)
    client.offer(b"hello")
    client.offer_price(b"price-1")
    client.offer_quotes(b"quotes-1")
    client.offer_price(b"price-2")
    assert wire.written == [b"hello", b"price-1", b"quotes-1", b"price-2"]
    assert not client.wake.is_set()  # nothing was left for the sender


async def test_while_the_socket_is_full_the_newest_of_each_waits_and_goes_out_in_order() -> None:
    wire = FakeWire(writable=False)
    client, _ = client_on(wire)
    client.offer_quotes(b"quotes-1")
    client.offer_quotes(b"quotes-2")
    client.offer_price(b"price-1")
    client.offer_price(b"price-2")
    client.offer(b"bet-event")
    sender = asyncio.create_task(client.send_forever())
    await asyncio.sleep(0.02)
    assert wire.written == []
    assert client.stalled_for(asyncio.get_running_loop().time() + 10) > 9  # waiting for the socket
    wire.set_writable(True)
    await asyncio.sleep(0.02)
    assert wire.written == [b"bet-event", b"price-2", b"quotes-2"]
    # Once all is out, a new message goes straight to the socket again.
    client.offer_price(b"price-3")
    assert wire.written[-1] == b"price-3"
    sender.cancel()


async def test_a_message_never_jumps_ahead_of_one_held() -> None:
    wire = FakeWire(writable=False)
    client, _ = client_on(wire)
    client.offer(b"first")
    wire.set_writable(True)  # the socket takes data again before the sender has run
    client.offer(b"second")
    assert wire.written == []  # "second" joins "first" in the queue
    sender = asyncio.create_task(client.send_forever())
    await asyncio.sleep(0.02)
    assert wire.written == [b"first", b"second"]
    sender.cancel()


async def test_a_peer_gone_ends_the_sender_without_an_error_and_nothing_is_written() -> None:
    wire = FakeWire(writable=False)
    client, _ = client_on(wire)
    client.offer(b"one")
    sender = asyncio.create_task(client.send_forever())
    await asyncio.sleep(0.02)
    wire.open = False  # the connection was lost, which also makes the protocol writable again
    wire.set_writable(True)
    await asyncio.wait_for(sender, 1.0)  # returns; raises nothing
    client.offer_price(b"price")  # dropped, not written to a closed connection
    assert wire.written == []


async def test_a_client_the_watchdog_gives_up_on_is_closed_with_1013() -> None:
    wire = FakeWire(writable=False)
    client, socket = client_on(wire)
    client.offer(b"event")
    client.sender = asyncio.create_task(client.send_forever())
    await asyncio.sleep(0.05)
    client.stop_stalled()
    await asyncio.wait_for(client.sender, 1.0)  # ends by itself, not cancelled
    assert socket.closed_with == (CLOSE_TRY_AGAIN, "too slow")


async def test_a_queue_that_overflows_closes_the_client_with_1013() -> None:
    wire = FakeWire(writable=False)
    client, socket = client_on(wire)
    for n in range(QUEUE_MAX + 1):
        client.offer(b"event-%d" % n)
    await asyncio.wait_for(client.send_forever(), 1.0)
    assert socket.closed_with == (CLOSE_TRY_AGAIN, "too slow")
    assert wire.written == []


async def test_cancelling_a_healthy_sender_is_a_plain_cancel() -> None:
    wire = FakeWire(writable=False)
    client, socket = client_on(wire)
    client.offer(b"event")
    sender = asyncio.create_task(client.send_forever())
    await asyncio.sleep(0.05)
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    assert socket.closed_with is None
    assert client.stalled_for(asyncio.get_running_loop().time()) == 0.0
