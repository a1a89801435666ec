"""What a price source yields: trades as ticks, and heartbeats that prove the exchange is heard even when
nothing trades. Times are the exchange's event times in Unix milliseconds; prices are integer cents."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tick:
    price_cents: int
    ts_ms: int  # the exchange's trade (event) time
    received_ms: int  # this process's clock when the message arrived
    trade_id: int | None = None  # the exchange's trade id, where it gives one


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The exchange spoke (book update, heartbeat message) without a trade."""

    ts_ms: int  # exchange time where the message carries one, else the receive time corrected for skew
    received_ms: int


SourceEvent = Tick | Heartbeat
