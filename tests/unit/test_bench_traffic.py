"""The load generator's bets signed in advance: one per block of rows, the one sent chosen by the price."""

from __future__ import annotations

import json

from bench.traffic import BLOCK_SHIFTS, Traffic

from taptrade.config import Settings
from tests.gateway_support import Trader

SETTINGS = Settings(chain_id=1)
PRICE_CENTS = 9_000_050  # $90,000.50: row 9,000 with $10 rows
DUE_S = 1_800_000_002.0  # column 360,000,000 with 5 s columns


def cell(request: bytes) -> tuple[int, int]:
    column, row = json.loads(request.split(b"\r\n\r\n", 1)[1])["cell"].split(":")
    return int(column), int(row)


def traffic(traders: int = 1) -> Traffic:
    return Traffic([Trader(token="t") for _ in range(traders)], SETTINGS, "h:1", 7, PRICE_CENTS)


def test_a_bet_in_advance_is_the_same_cell_a_block_of_rows_down_as_is_and_up() -> None:
    variants = traffic().bet_variants(0, DUE_S)
    cells = [cell(v) for v in variants]
    assert len(variants) == len(BLOCK_SHIFTS) == 3
    assert {column for column, _ in cells} == {360_000_003}  # the nearest placeable column
    assert [row for _, row in cells] == [8_990, 8_997, 9_004]  # rows 8,997 .. 9,003, moved by 7
    assert len({json.loads(v.split(b"\r\n\r\n", 1)[1])["bet_id"] for v in variants}) == 3


def test_the_block_sent_is_the_one_nearest_the_price_at_send_time() -> None:
    t = traffic()
    variants = t.bet_variants(0, DUE_S)
    chosen = {}
    for moved_rows in (-40, -8, -4, -3, 0, 3, 4, 8, 40):
        t.price_cents = PRICE_CENTS + moved_rows * 1000
        chosen[moved_rows] = variants.index(t.pick(variants)) - 1
    assert chosen == {-40: -1, -8: -1, -4: -1, -3: 0, 0: 0, 3: 0, 4: 1, 8: 1, 40: 1}


def test_a_traders_bets_never_meet_on_one_cell_whichever_blocks_they_are_sent_in() -> None:
    t = traffic()
    bets = [t.bet_variants(0, DUE_S) for _ in range(7 * 6)]  # every row of every ahead column
    cells = [cell(v) for variants in bets for v in variants]
    assert len(cells) == len(set(cells))


def test_a_request_built_when_due_is_one_bet_around_the_price_then() -> None:
    t = traffic()
    t.price_cents = PRICE_CENTS + 10 * 1000
    request = t.bet(0, DUE_S)
    assert 9_007 <= cell(request)[1] <= 9_013
    assert t.pick((request,)) is request
