"""A WebSocket client's sender: own events first, then the newest price, then the newest quote table, and
a peer that has gone ends the sender quietly. (The socket here records what is sent; the fan-out through
real connections is tested in tests/integration/test_gateway_ws.py.)"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from starlette.websockets import WebSocketDisconnect

from taptrade.gateway.ws import Client


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
