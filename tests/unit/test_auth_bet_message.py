"""The canonical bet message: the exact text of API.md, a contract with the web client and the bots."""

from __future__ import annotations

import pytest

from taptrade.auth.bet_message import bet_message
from taptrade.auth.errors import BadAuthRequest

# The string fields of the API.md example (which leaves bet_id and nonce as "<uuid>").
API_EXAMPLE_STRINGS = {
    "bet_id": "0b8a3d52-7c1e-4f7a-9a55-2f1d3c4b5a69",
    "cell": "356000123:9712",
    "min_multiplier": "2.4000",
    "nonce": "5f0c1e2d-3b4a-4c5d-8e6f-7a8b9c0d1e2f",
}


def api_example_message(**changes: str) -> str:
    fields = {**API_EXAMPLE_STRINGS, **changes}
    return bet_message(
        bet_id=fields["bet_id"],
        cell=fields["cell"],
        amount=1000,
        min_multiplier=fields["min_multiplier"],
        nonce=fields["nonce"],
        timestamp=1763700000,
        chain_id=1,
    )


def test_text_of_the_api_example() -> None:
    expected = (
        "Tap Trading Bet\n"
        "Action: place_bet\n"
        "Bet: 0b8a3d52-7c1e-4f7a-9a55-2f1d3c4b5a69\n"
        "Cell: 356000123:9712\n"
        "Amount: 1000\n"
        "Min multiplier: 2.4000\n"
        "Nonce: 5f0c1e2d-3b4a-4c5d-8e6f-7a8b9c0d1e2f\n"
        "Timestamp: 1763700000\n"
        "Chain: 1\n"
        "Version: 1"
    )
    assert api_example_message() == expected


def test_values_go_in_exactly_as_sent() -> None:
    # "2.4" and "2.4000" are the same multiplier, but the client signed the string it sent.
    assert "\nMin multiplier: 2.4\n" in api_example_message(min_multiplier="2.4")


@pytest.mark.parametrize("field", ["bet_id", "cell", "min_multiplier", "nonce"])
def test_line_break_in_a_value_is_refused(field: str) -> None:
    with pytest.raises(BadAuthRequest, match=field):
        api_example_message(**{field: "x\nAmount: 1"})
