"""A WebSocket client's sender: own events first, then the newest price, then the newest quote table; a
peer that has gone ends the sender quietly; a send the watchdog gives up on closes the socket with 1013.
(The sockets here stand in for a peer; the fan-out through real connections is tested in
tests/integration/test_gateway_ws.py.)"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from starlette.websockets import WebSocketDisconnect, WebSocketState

from taptrade.gateway.ws import CLOSE_TRY_AGAIN, Client


class RecordingSocket:
    def __init__(self, fail_after: int | None = None) -> None:
        self.sent: list[str] = []
        self.fail_after = fail_after

    async def send_text(self, text: str) -> None:
        if self.fail_after is not None and len(self.sent) >= self.fail_after:
            raise WebSocketDisconnect(1006)
        self.sent.append(text)


async def test_price_goes_before_the_quote_table_and_only_the_newest_of_each() -> None:
    socket = RecordingSocket()
    client = Client(cast(Any, socket))
    client.offer_quotes("quotes-1")
    client.offer_quotes("quotes-2")
    client.offer_price("price-1")
    client.offer_price("price-2")
    client.offer("bet-event")
    sender = asyncio.create_task(client.send_forever())
    await asyncio.sleep(0.05)
    sender.cancel()
    assert socket.sent == ["bet-event", "price-2", "quotes-2"]


async def test_a_peer_gone_mid_send_ends_the_sender_without_an_error() -> None:
    socket = RecordingSocket(fail_after=1)
    client = Client(cast(Any, socket))
    client.offer("one")
    client.offer("two")
    await asyncio.wait_for(client.send_forever(), 1.0)  # returns; raises nothing
    assert socket.sent == ["one"]


class StalledSocket:
    """A peer that never takes a message: every send waits for good."""

    application_state = WebSocketState.CONNECTED

    def __init__(self) -> None:
        self.closed_with: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        await asyncio.Event().wait()

    async def close(self, code: int, reason: str) -> None:
        self.closed_with = (code, reason)


async def test_a_send_the_watchdog_gives_up_on_closes_the_socket_with_1013() -> None:
    socket = StalledSocket()
    client = Client(cast(Any, socket))
    client.offer("event")
    client.sender = asyncio.create_task(client.send_forever())
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    assert client.stalled_for(loop.time() + 10) > 9  # the send is under way, and has been for that long
    client.stop_stalled()
    await asyncio.wait_for(client.sender, 1.0)  # ends by itself, not cancelled
    assert socket.closed_with == (CLOSE_TRY_AGAIN, "too slow")


async def test_cancelling_a_healthy_sender_is_a_plain_cancel() -> None:
    socket = StalledSocket()
    client = Client(cast(Any, socket))
    client.offer("event")
    sender = asyncio.create_task(client.send_forever())
    await asyncio.sleep(0.05)
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    assert socket.closed_with is None
    assert client.stalled_for(asyncio.get_running_loop().time()) == 0.0
