"""The canonical bet message (API.md, "Bets"): the exact text a session key or a wallet signs for a bet.

This text is a contract with the web client and the bots; any change here breaks every signer. Values
go in exactly as the client sent them, so the server checks the signature over the very strings it will
act on.
"""

from __future__ import annotations

from taptrade.auth.errors import BadAuthRequest


def bet_message(
    *,
    bet_id: str,
    cell: str,
    amount: int,
    min_multiplier: str,
    nonce: str,
    timestamp: int,
    chain_id: int,
) -> str:
    """The lines of the signed text joined by "\\n", no trailing newline."""
    # A line break inside a value would let one signed text read as two different bets (for example
    # bet_id "a\nCell: b" with cell "c" against bet_id "a" with cell "b\nCell: c"). The gateway's field
    # validation should already refuse such values; this keeps the text unambiguous regardless.
    for name, value in (
        ("bet_id", bet_id),
        ("cell", cell),
        ("min_multiplier", min_multiplier),
        ("nonce", nonce),
    ):
        if "\n" in value:
            raise BadAuthRequest(f"{name} must not contain a line break")
    return "\n".join(
        (
            "Tap Trading Bet",
            "Action: place_bet",
            f"Bet: {bet_id}",
            f"Cell: {cell}",
            f"Amount: {amount}",
            f"Min multiplier: {min_multiplier}",
            f"Nonce: {nonce}",
            f"Timestamp: {timestamp}",
            f"Chain: {chain_id}",
            "Version: 1",
        )
    )
