"""Market data as it travels through Redis from the feed to every gateway worker: the latest tick, the
quote table (multipliers per cell) and the feed's status. JSON, integers only (cents, ms, 1/10,000)."""

from __future__ import annotations

from typing import Literal

import msgspec


class PriceTick(msgspec.Struct, frozen=True):
    price: int
    ts_ms: int
    source: str
    replay_offset_ms: int | None = None


class QuoteTable(msgspec.Struct, frozen=True):
    """Multipliers for a block of cells: `multipliers_e4[c][r]` is column `first_column + c`, row
    `first_row + r`; None where the cell is not offered."""

    quote_id: int
    ts_ms: int
    price: int
    first_column: int
    first_row: int
    multipliers_e4: list[list[int | None]]

    def multiplier_e4(self, column: int, row: int) -> int | None:
        c, r = column - self.first_column, row - self.first_row
        if c < 0 or r < 0 or c >= len(self.multipliers_e4):
            return None
        rows = self.multipliers_e4[c]
        return rows[r] if r < len(rows) else None


class FeedStatus(msgspec.Struct, frozen=True):
    price_feed: Literal["healthy", "degraded", "critical"]
    betting: Literal["open", "suspended"]
    since_ms: int
    source: str
    # The circuit breaker's override: "forced_open" suspends betting, "forced_closed" keeps it open.
    mode: Literal["auto", "forced_open", "forced_closed"] = "auto"


class Bar(msgspec.Struct, frozen=True):
    """One closed second of exchange time. `count` 0: heard but nothing traded (prices = previous close)."""

    second: int
    open: int
    high: int
    low: int
    close: int
    count: int
    first_trade_id: int | None = None
    last_trade_id: int | None = None
    health: Literal["healthy", "degraded", "critical"] = "healthy"  # the feed's, when the bar closed


price_decoder = msgspec.json.Decoder(PriceTick)
quotes_decoder = msgspec.json.Decoder(QuoteTable)
bar_decoder = msgspec.json.Decoder(Bar)
status_decoder = msgspec.json.Decoder(FeedStatus)
