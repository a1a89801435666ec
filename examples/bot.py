"""A trading bot in one file: it places a bet with nothing but an Ethereum private key.

Bets are signed per request with the wallet key (EIP-191 `personal_sign`, API.md `scheme: "eip191"`), so
the bot needs no session. With `--faucet` (demo mode) it first signs in with Sign-In with Ethereum to ask
the faucet for play money.

    python examples/bot.py --url http://127.0.0.1:8000 --key 0x<64 hex> [--stake 100] [--ahead 3] [--faucet]

The key can also come from the environment: TAPTRADE_BOT_KEY. Exit code 0 when the bet is confirmed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from urllib.parse import urlparse

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount


def bet_message(bet: dict[str, object]) -> str:
    """The canonical text every bet signs (API.md), byte for byte."""
    return "\n".join(
        [
            "Tap Trading Bet",
            "Action: place_bet",
            f"Bet: {bet['bet_id']}",
            f"Cell: {bet['cell']}",
            f"Amount: {bet['amount']}",
            f"Min multiplier: {bet['min_multiplier']}",
            f"Nonce: {bet['nonce']}",
            f"Timestamp: {bet['timestamp']}",
            f"Chain: {bet['chain_id']}",
            "Version: 1",
        ]
    )


def personal_sign(wallet: LocalAccount, text: str) -> str:
    return "0x" + bytes(wallet.sign_message(encode_defunct(text=text)).signature).hex()


def sign_in_for_faucet(http: httpx.Client, wallet: LocalAccount, chain_id: int) -> None:
    """SIWE sign-in (demo faucet only). Bets themselves never need the session."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from siwe import SiweMessage

    session_key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    nonce = http.get("/api/auth/nonce").raise_for_status().json()["nonce"]
    authority = urlparse(str(http.base_url)).netloc
    now = datetime.now(UTC)
    message = SiweMessage(
        domain=authority,
        address=wallet.address,
        statement="Tap Trading bot",
        uri=f"{urlparse(str(http.base_url)).scheme}://{authority}",
        version="1",
        chain_id=chain_id,
        nonce=nonce,
        issued_at=now.isoformat().replace("+00:00", "Z"),
        expiration_time=(now + timedelta(minutes=10)).isoformat().replace("+00:00", "Z"),
        resources=["urn:taptrade:session-key:" + base64.urlsafe_b64encode(session_key).rstrip(b"=").decode()],
    ).prepare_message()
    login = http.post(
        "/api/auth/login", json={"message": message, "signature": personal_sign(wallet, message)}
    )
    token = login.raise_for_status().json()["token"]
    faucet = http.post("/api/demo/faucet", headers={"Authorization": f"Bearer {token}"})
    print(f"faucet: {faucet.status_code} {faucet.text}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", default=os.environ.get("TAPTRADE_BOT_KEY"), help="0x + 64 hex digits")
    parser.add_argument("--stake", type=int, default=100, help="cents; must be a preset")
    parser.add_argument("--ahead", type=int, default=3, help="columns ahead of the current one")
    parser.add_argument("--faucet", action="store_true", help="demo mode: ask the faucet for money first")
    args = parser.parse_args()
    if not args.key:
        parser.error("give --key or TAPTRADE_BOT_KEY")
    wallet: LocalAccount = Account.from_key(args.key)

    with httpx.Client(base_url=args.url, timeout=10) as http:
        grid = http.get("/api/grid").raise_for_status().json()
        if args.faucet:
            sign_in_for_faucet(http, wallet, grid["chain_id"])
        quotes = http.get("/api/quotes").raise_for_status().json()
        column_ms = grid["column_seconds"] * 1000
        column = int(time.time() * 1000) // column_ms + args.ahead
        row = quotes["price"] // grid["row_cents"]
        shown = quotes["multipliers"][column - quotes["first_column"]][row - quotes["first_row"]]
        if shown is None:
            print("no multiplier offered on that cell", file=sys.stderr)
            return 1
        # Accept up to 2 % slippage, as the web app does.
        min_multiplier = (Decimal(shown) * Decimal("0.98")).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
        bet: dict[str, object] = {
            "bet_id": str(uuid.uuid4()),
            "cell": f"{column}:{row}",
            "amount": args.stake,
            "min_multiplier": str(min_multiplier),
            "nonce": str(uuid.uuid4()),
            "timestamp": int(time.time()),
            "chain_id": grid["chain_id"],
        }
        body = {
            **bet,
            "scheme": "eip191",
            "address": wallet.address,
            "signature": personal_sign(wallet, bet_message(bet)),
        }
        response = http.post("/api/bets", json=body)
        print(f"{response.status_code} {response.text}")
        return 0 if response.status_code in (200, 201) else 1


if __name__ == "__main__":
    sys.exit(main())
