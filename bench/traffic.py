"""What the load generator sends, as raw HTTP/1.1 bytes: signed bets and authenticated reads.

Bets are signed with each trader's session key, as the browser signs them, on a cell that trader has not
used: a placeable column (AHEAD_COLUMNS from the due time's column) and one of the rows around the price.
Each trader places at most `rows` bets a column, so the run needs enough traders for its rate
(`users_for_rate`). Reads cycle through `/api/price`, `/api/bets` and `/api/me`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from tests.gateway_support import Trader, bet_body

STAKE_CENTS = 100
AHEAD_COLUMNS = (3, 4, 5, 6, 7, 8)
READ_PATHS = ("/api/price", "/api/bets?limit=20", "/api/me")
NEAR_ROWS = 7  # the price's row and three either side


def users_for_rate(rate: float, column_seconds: int = 5, rows: int = NEAR_ROWS) -> int:
    """Enough traders that none needs more than `rows` cells a column: at most rows / column_seconds bets a
    second each (1.4 with the defaults); keep below that."""
    per_user = rows / column_seconds * 0.85
    return max(600, int(rate / per_user) + 1)


@dataclass
class Traffic:
    """Builds the requests of one loader process for its traders."""

    traders: list[Trader]
    settings: Any
    host: str
    rows: int
    price_cents: int
    used: list[set[tuple[int, int]]] = field(default_factory=list)
    reads_made: int = 0

    def __post_init__(self) -> None:
        self.used = [set() for _ in self.traders]

    def _head(self, method: str, path: str, trader: Trader, length: int | None) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {trader.token}\r\n"
        if length is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        return (head + "\r\n").encode()

    def bet(self, user: int, due_epoch_s: float) -> bytes:
        trader = self.traders[user]
        used = self.used[user]
        column_ms = self.settings.column_seconds * 1000
        current = int(due_epoch_s * 1000) // column_ms
        base_row = self.price_cents // self.settings.row_cents - self.rows // 2
        # The nearest column first, so a trader's burst of bets stays placeable the longest.
        column, row = next(
            (current + a, base_row + r)
            for a in AHEAD_COLUMNS
            for r in range(self.rows)
            if (current + a, base_row + r) not in used
        )
        used.add((column, row))
        if len(used) > 4 * self.rows * len(AHEAD_COLUMNS):  # forget columns long past
            used.difference_update({cell for cell in used if cell[0] < current})
        body = bet_body(
            trader, self.settings, column=column, row=row, amount=STAKE_CENTS, timestamp=int(due_epoch_s)
        )
        payload = json.dumps(body, separators=(",", ":")).encode()
        return self._head("POST", "/api/bets", trader, len(payload)) + payload

    def read(self, user: int) -> bytes:
        path = READ_PATHS[self.reads_made % len(READ_PATHS)]
        self.reads_made += 1
        return self._head("GET", path, self.traders[user], None)

    def version(self) -> bytes:
        return f"GET /api/version HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode()
