"""EIP-191 personal_sign: hashing and recovery against third-party vectors, and malformed signatures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from taptrade.auth.eip191 import SECP256K1_N, parse_signature_hex, personal_sign_hash, recover_address
from taptrade.auth.errors import AuthError

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent.parent / "vectors" / "eip191-personal-sign.json").read_text(encoding="utf-8")
)["vectors"]

# A signature of our own, made with eth_account, for the malformed-signature cases.
KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
ADDRESS = Account.from_key(KEY).address.lower()
MESSAGE = b"Tap Trading Bet\nAction: place_bet"
SIGNATURE = bytes(Account.sign_message(encode_defunct(primitive=MESSAGE), KEY).signature)


def message_bytes(vector: dict[str, Any]) -> bytes:
    if vector["message_text"] is not None:
        return str(vector["message_text"]).encode("utf-8")
    return bytes.fromhex(str(vector["message_hex"]).removeprefix("0x"))


def expected_hash(vector: dict[str, Any]) -> str | None:
    hash_hex = vector.get("expected_eip191_hash") or vector.get("expected_eip191_hash_computed_here")
    return None if hash_hex is None else str(hash_hex)


def expected_address(vector: dict[str, Any]) -> str:
    if vector["address"] is not None:
        return str(vector["address"]).lower()
    return str(Account.from_key(vector["private_key"]).address).lower()


HASH_VECTORS = [v for v in VECTORS if expected_hash(v) is not None]
# Some "hash only" vectors carry a note where the signature would be; only real signatures count here.
SIGNED_VECTORS = [
    v
    for v in VECTORS
    if str(v["signature"]).startswith("0x") and (v["address"] is not None or v["private_key"] is not None)
]


def with_byte(signature: bytes, index: int, value: int) -> bytes:
    return signature[:index] + bytes((value,)) + signature[index + 1 :]


def with_scalar(signature: bytes, offset: int, value: int) -> bytes:
    return signature[:offset] + value.to_bytes(32, "big") + signature[offset + 32 :]


def recovered_or_refused(message: bytes, signature: bytes) -> str:
    """The recovered address, or "refused" for a bad_signature (any other error propagates)."""
    try:
        return recover_address(message, signature)
    except AuthError as exc:
        if exc.code != "bad_signature":
            raise
        return "refused"


def assert_bad_signature(signature: bytes, message: bytes = MESSAGE) -> None:
    with pytest.raises(AuthError) as caught:
        recover_address(message, signature)
    assert caught.value.code == "bad_signature"


def test_vector_file_has_hash_and_signature_cases() -> None:
    assert len(HASH_VECTORS) >= 10
    assert len(SIGNED_VECTORS) >= 8


@pytest.mark.parametrize("vector", HASH_VECTORS, ids=lambda v: v["name"])
def test_personal_sign_hash_matches_vector(vector: dict[str, Any]) -> None:
    assert "0x" + personal_sign_hash(message_bytes(vector)).hex() == expected_hash(vector)


@pytest.mark.parametrize("vector", SIGNED_VECTORS, ids=lambda v: v["name"])
def test_recover_address_matches_vector(vector: dict[str, Any]) -> None:
    signature = parse_signature_hex(vector["signature"])
    assert recover_address(message_bytes(vector), signature) == expected_address(vector)


def test_recover_address_agrees_with_eth_account_signing() -> None:
    assert recover_address(MESSAGE, SIGNATURE) == ADDRESS


def test_recovery_id_zero_or_one_form_is_accepted() -> None:
    assert SIGNATURE[64] in (27, 28)
    assert recover_address(MESSAGE, with_byte(SIGNATURE, 64, SIGNATURE[64] - 27)) == ADDRESS


def test_high_s_form_recovers_the_same_address() -> None:
    s = int.from_bytes(SIGNATURE[32:64], "big")
    flipped_v = 27 + (1 - (SIGNATURE[64] - 27))
    malleated = with_byte(with_scalar(SIGNATURE, 32, SECP256K1_N - s), 64, flipped_v)
    assert recover_address(MESSAGE, malleated) == ADDRESS


def test_parse_signature_hex_accepts_either_case() -> None:
    text = "0x" + SIGNATURE.hex()
    assert parse_signature_hex(text) == SIGNATURE
    assert parse_signature_hex("0x" + SIGNATURE.hex().upper()) == SIGNATURE


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0x" + SIGNATURE.hex()[:-2], id="64-bytes"),
        pytest.param("0x" + SIGNATURE.hex() + "00", id="66-bytes"),
        pytest.param("0x" + SIGNATURE.hex()[:-1], id="odd-length"),
        pytest.param(SIGNATURE.hex(), id="missing-0x"),
        pytest.param("0X" + SIGNATURE.hex(), id="upper-0X"),
        pytest.param("0x" + "g" + SIGNATURE.hex()[1:], id="non-hex"),
        pytest.param("0x" + SIGNATURE.hex()[:-2] + " 1", id="space"),
        pytest.param("0x" + SIGNATURE.hex()[:-1] + "\n", id="newline"),
        pytest.param("0x" + SIGNATURE.hex()[:-1] + "\u0661", id="arabic-digit"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_signature_hex_rejects_malformed_text(text: str) -> None:
    with pytest.raises(AuthError) as caught:
        parse_signature_hex(text)
    assert caught.value.code == "bad_signature"


@pytest.mark.parametrize("length", [0, 64, 66, 130])
def test_wrong_length_is_bad_signature(length: int) -> None:
    assert_bad_signature((SIGNATURE * 3)[:length])


@pytest.mark.parametrize("v", [2, 26, 29, 30, 255])
def test_recovery_byte_out_of_range_is_bad_signature(v: int) -> None:
    assert_bad_signature(with_byte(SIGNATURE, 64, v))


@pytest.mark.parametrize(
    ("offset", "value"),
    [
        pytest.param(0, 0, id="r-zero"),
        pytest.param(32, 0, id="s-zero"),
        pytest.param(0, SECP256K1_N, id="r-equals-order"),
        pytest.param(32, SECP256K1_N, id="s-equals-order"),
        pytest.param(32, 2**256 - 1, id="s-max"),
    ],
)
def test_scalar_out_of_range_is_bad_signature(offset: int, value: int) -> None:
    assert_bad_signature(with_scalar(SIGNATURE, offset, value))


def test_r_that_is_no_curve_point_is_bad_signature() -> None:
    # x = 5 has no point on secp256k1 (5^3 + 7 = 132 is not a square mod p), so nothing recovers.
    assert_bad_signature(with_scalar(SIGNATURE, 0, 5))


@pytest.mark.parametrize("index", [0, 17, 31, 32, 50, 63])
def test_flipped_signature_byte_never_yields_the_signer(index: int) -> None:
    tampered = with_byte(SIGNATURE, index, SIGNATURE[index] ^ 0x01)
    assert recovered_or_refused(MESSAGE, tampered) != ADDRESS


def test_changed_message_recovers_another_address() -> None:
    assert recover_address(MESSAGE + b".", SIGNATURE) != ADDRESS
