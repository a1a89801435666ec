"""What the load generator sends, as raw HTTP/1.1 bytes: signed bets and authenticated reads.

Bets are signed with each trader's session key, as the browser signs them, on a cell that trader has not
used: a placeable column (AHEAD_COLUMNS from the due time's column) and one of the rows around the price.
Each trader places at most `rows` bets a column, so the run needs enough traders for its rate
(`users_for_rate`). Reads cycle through `/api/price`, `/api/bets` and `/api/me`.

A bet signed in advance is signed once for each of BLOCK_SHIFTS: the same cell moved a whole block of
`rows` down, not at all, and up. The one sent is the block nearest the price at its send time, so a price
that wanders during a long setup and run still meets quoted rows: near the price a cell 15 s ahead is
quoted within about 9 rows of it, and a minute of BTC-like volatility is some 6 rows.
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
BLOCK_SHIFTS = (-1, 0, 1)  # in blocks of `rows`, for bets signed in advance


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
    signed_at_cents: int = field(init=False)  # the price the rows were chosen around: the first one

    def __post_init__(self) -> None:
        self.used = [set() for _ in self.traders]
        self.signed_at_cents = self.price_cents

    def _head(self, method: str, path: str, trader: Trader, length: int | None) -> bytes:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {trader.token}\r\n"
        if length is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
        return (head + "\r\n").encode()

    def bet(self, user: int, due_epoch_s: float) -> bytes:
        """A bet on the rows around the current price, to be sent now."""
        return self.bet_variants(user, due_epoch_s, shifts=(0,))[0]

    def bet_variants(
        self, user: int, due_epoch_s: float, shifts: tuple[int, ...] = BLOCK_SHIFTS
    ) -> tuple[bytes, ...]:
        """One cell for `user`, signed once for each block shift (see `pick`), each a bet of its own."""
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
        # Two cells of one trader differ in their block row (0 .. rows-1), so whatever blocks their bets
        # are sent in, they never meet on one cell.
        return tuple(
            self._signed_bet(trader, column, row + shift * self.rows, due_epoch_s) for shift in shifts
        )

    def pick(self, variants: tuple[bytes, ...]) -> bytes:
        """Of a bet's BLOCK_SHIFTS variants, the one whose block is nearest the price now."""
        row_cents: int = self.settings.row_cents
        moved_rows = self.price_cents // row_cents - self.signed_at_cents // row_cents
        middle = len(variants) // 2
        shift = max(-middle, min(middle, round(moved_rows / self.rows)))
        return variants[middle + shift]

    def _signed_bet(self, trader: Trader, column: int, row: int, due_epoch_s: float) -> bytes:
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
