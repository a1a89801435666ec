"""Writes tests/vectors/client_vectors.json: what the web client (web/) must compute exactly as the Python
modules do — the signed bet text, SIWE login messages, the session-key resource and signature, grid
bounds and times, multiplier and money formatting, and the 2 % slippage floor (`min_multiplier`).

The web app's unit tests (Vitest) read the JSON; tests/unit/test_client_vectors.py checks that the
committed file still equals this script's output, so a Python change that would break the client fails.

    .venv/bin/python scripts/gen_client_vectors.py          # rewrite the file
    .venv/bin/python scripts/gen_client_vectors.py --check  # exit 1 if the file is stale

Everything here is deterministic: fixed keys, fixed times, RFC 6979 signatures.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from eth_account import Account
from eth_account.messages import encode_defunct

from taptrade.auth.bet_message import bet_message
from taptrade.auth.session_keys import SESSION_KEY_RESOURCE_PREFIX, load_session_key
from taptrade.auth.siwe_login import parse_login_message
from taptrade.grid import GridSpec, format_cell, parse_cell
from taptrade.money import format_cents, format_multiplier, parse_multiplier, payout_cents

# Imported after taptrade.auth.siwe_login, which silences the grammar warnings siwe emits on import.
from siwe import SiweMessage  # type: ignore[import-untyped]  # isort: skip

OUTPUT = Path(__file__).resolve().parent.parent / "tests" / "vectors" / "client_vectors.json"
SLIPPAGE = Decimal("0.98")  # the web app sends min_multiplier = shown x 0.98, floored to 1e-4
SESSION_SCALAR = 0x7A9_5E55_1011_CAFE
WALLET_KEY = "0x" + "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
_ECDSA_DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def min_multiplier(shown: str) -> str:
    """The slippage floor the client signs: floor(shown x 0.98) at 4 decimals (as examples/bot.py)."""
    floored = (Decimal(shown) * SLIPPAGE).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    return format_multiplier(parse_multiplier(str(floored)))


def bet_message_vectors() -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = [
        {
            "bet_id": "0b5f3c4e-8d2a-4f1e-9c7b-2a1d3e4f5a6b",
            "cell": "356000123:9712",
            "amount": 1000,
            "min_multiplier": "2.4000",
            "nonce": "7f9c2ba4-e88f-4a4b-9d6e-1c2b3a4d5e6f",
            "timestamp": 1763700000,
            "chain_id": 1,
        },
        {
            "bet_id": "00000000-0000-4000-8000-000000000000",
            "cell": "0:0",
            "amount": 100,
            "min_multiplier": "1.0780",
            "nonce": "abcdefgh",
            "timestamp": 0,
            "chain_id": 11155111,
        },
        {
            "bet_id": "FFFFFFFF-FFFF-4FFF-BFFF-FFFFFFFFFFFF",
            "cell": "999999999999:999999999999",
            "amount": 10000,
            "min_multiplier": "980.0000",
            "nonce": "Nonce_with-dash_and_underscore_0123456789",
            "timestamp": 2000000000,
            "chain_id": 8453,
        },
    ]
    return [{"input": fields, "text": bet_message(**fields)} for fields in inputs]


def grid_vectors() -> list[dict[str, Any]]:
    specs = [
        GridSpec(),
        GridSpec(column_seconds=1, row_cents=500, placeable_min_offset=1, max_ahead_columns=10),
        GridSpec(column_seconds=60, row_cents=1, placeable_min_offset=3, max_ahead_columns=5),
    ]
    instants = [0, 1, 4_999, 5_000, 59_999, 1_763_700_002_500, 1_795_251_827_448]
    prices = [0, 1, 999, 1_000, 9_712_345, 9_713_000, 6_001_609]
    out: list[dict[str, Any]] = []
    for spec in specs:
        now_ms = 1_763_700_002_500
        current = spec.column_at(now_ms)
        cells = []
        for column, row in [(0, 0), (7, 9712), (current, 6001), (356_000_123, 9712)]:
            cells.append(
                {
                    "cell": format_cell(column, row),
                    "column": column,
                    "row": row,
                    "start_ms": spec.column_start_ms(column),
                    "end_ms": spec.column_end_ms(column),
                    "lower": spec.row_lower_cents(row),
                    "upper": spec.row_upper_cents(row),
                }
            )
        placeable = [
            {
                "column": current + offset,
                "now_ms": now_ms,
                "placeable": spec.is_placeable(current + offset, now_ms),
            }
            for offset in range(-1, spec.max_ahead_columns + 2)
        ]
        boundary = (current + 1) * spec.column_ms  # the instant the next column starts
        for now in (boundary - 1, boundary):
            column = current + 1 + spec.placeable_min_offset
            placeable.append({"column": column, "now_ms": now, "placeable": spec.is_placeable(column, now)})
        out.append(
            {
                "spec": {
                    "column_seconds": spec.column_seconds,
                    "row_cents": spec.row_cents,
                    "placeable_min_offset": spec.placeable_min_offset,
                    "max_ahead_columns": spec.max_ahead_columns,
                },
                "cells": cells,
                "column_at": [{"ts_ms": t, "column": spec.column_at(t)} for t in instants],
                "row_at": [{"price": p, "row": spec.row_at(p)} for p in prices],
                "placeable": placeable,
            }
        )
    return out


def cell_id_vectors() -> dict[str, Any]:
    valid = ["0:0", "1:2", "356000123:9712", "999999999999:999999999999"]
    invalid = ["", "1", "1:", ":1", "-1:2", "1:-2", "01:2", "1:02", "1:2:3", "a:b", "1 :2", "+1:2", "1:2\n"]
    invalid += ["1000000000000:1"]
    for text in invalid:
        try:
            parse_cell(text)
        except ValueError:
            continue
        raise AssertionError(f"parse_cell accepted {text!r}")
    return {
        "valid": [{"text": t, "column": parse_cell(t).column, "row": parse_cell(t).row} for t in valid],
        "invalid": invalid,
    }


def multiplier_vectors() -> dict[str, Any]:
    e4s = [0, 1, 9_999, 10_000, 11_000, 25_000, 25_807, 693_003, 1_000_000, 9_999_999_999]
    texts = ["2", "2.5", "2.50", "2.5000", "0", "0.0001", "69.3003", "999999.9999", "1.1"]
    invalid = ["", ".5", "2.", "2.50000", "-1", "+1", "01.5", "1e3", " 2.5", "2.5 ", "1,5", "1234567.0"]
    for text in invalid:
        try:
            parse_multiplier(text)
        except ValueError:
            continue
        raise AssertionError(f"parse_multiplier accepted {text!r}")
    return {
        "format": [{"e4": e4, "text": format_multiplier(e4)} for e4 in e4s],
        "parse": [{"text": t, "e4": parse_multiplier(t)} for t in texts],
        "parse_invalid": invalid,
    }


def min_multiplier_vectors() -> list[dict[str, str]]:
    shown = ["1.1000", "1.5173", "2.5000", "2.5807", "2.9374", "6.3484", "69.3003", "100.0000", "1.0001"]
    return [{"shown": s, "min": min_multiplier(s)} for s in shown]


def money_vectors() -> dict[str, Any]:
    payouts = [(100, 25_000), (1000, 25_807), (333, 11_111), (10_000, 693_003), (1, 19_999), (0, 50_000)]
    cents = [0, 5, 99, 100, 123_456, 9_712_345, 100_000_000, -250]
    return {
        "payout": [{"amount": a, "multiplier_e4": m, "payout": payout_cents(a, m)} for a, m in payouts],
        "format_cents": [{"amount": c, "text": format_cents(c)} for c in cents],
    }


def siwe_vectors(resource: str) -> list[dict[str, Any]]:
    wallet = Account.from_key(WALLET_KEY)
    cases = [
        (
            "127.0.0.1:8411",
            "http://127.0.0.1:8411",
            1,
            "2026-11-21T09:03:37.865Z",
            "2026-11-22T09:03:37.865Z",
        ),
        ("localhost:5173", "http://localhost:5173", 11155111, "2025-01-02T03:04:05.000Z", None),
        (
            "tap.example.com",
            "https://tap.example.com",
            8453,
            "2030-12-31T23:59:59.999Z",
            "2031-01-01T00:00:00.000Z",
        ),
    ]
    out = []
    for domain, uri, chain_id, issued_at, expiration_time in cases:
        fields: dict[str, Any] = {
            "domain": domain,
            "address": str(wallet.address),
            "statement": "Sign in to Tap Trading",
            "uri": uri,
            "version": "1",
            "chain_id": chain_id,
            "nonce": "0123456789abcdef0123456789abcdef",
            "issued_at": issued_at,
            "resources": [resource],
        }
        if expiration_time is not None:
            fields["expiration_time"] = expiration_time
        message = str(SiweMessage(**fields).prepare_message())
        parsed = parse_login_message(message)  # the server must read back what the client writes
        assert parsed.domain == domain
        assert parsed.resources == (resource,)
        signature = wallet.sign_message(encode_defunct(text=message)).signature
        out.append(
            {
                "input": {**fields, "expiration_time": expiration_time},
                "message": message,
                "issued_ms": parsed.issued_ms,
                "expires_ms": parsed.expires_ms,
                "signature": "0x" + bytes(signature).hex(),
            }
        )
    return out


def session_key_vectors() -> dict[str, Any]:
    key = ec.derive_private_key(SESSION_SCALAR, ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    spki_b64 = b64url(spki)
    load_session_key(spki_b64)  # the server accepts it as written
    text = bet_message_vectors()[0]["text"]
    r, s = decode_dss_signature(key.sign(text.encode(), _ECDSA_DETERMINISTIC))
    return {
        "pkcs8_b64url": b64url(pkcs8),
        "spki_b64url": spki_b64,
        "resource": SESSION_KEY_RESOURCE_PREFIX + spki_b64,
        "signed_text": text,
        "signature_b64url": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")),
    }


def personal_sign_vectors() -> list[dict[str, str]]:
    wallet = Account.from_key(WALLET_KEY)
    texts = [bet_message_vectors()[1]["text"], "hello"]
    return [
        {
            "private_key": WALLET_KEY,
            "address": str(wallet.address),
            "message": t,
            "signature": "0x" + bytes(wallet.sign_message(encode_defunct(text=t)).signature).hex(),
        }
        for t in texts
    ]


def build_vectors() -> dict[str, Any]:
    session_key = session_key_vectors()
    return {
        "_comment": "Generated by scripts/gen_client_vectors.py from the taptrade modules; do not edit.",
        "bet_messages": bet_message_vectors(),
        "grid": grid_vectors(),
        "cell_ids": cell_id_vectors(),
        "multipliers": multiplier_vectors(),
        "min_multiplier": min_multiplier_vectors(),
        "money": money_vectors(),
        "session_key": session_key,
        "siwe": siwe_vectors(session_key["resource"]),
        "personal_sign": personal_sign_vectors(),
    }


def render(vectors: dict[str, Any]) -> str:
    return json.dumps(vectors, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed file is stale")
    args = parser.parse_args()
    text = render(build_vectors())
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.is_file() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run scripts/gen_client_vectors.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
