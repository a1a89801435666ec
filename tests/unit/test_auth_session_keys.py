"""Session keys: loading the browser's P-256 SPKI and checking the raw r || s signatures WebCrypto makes."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from taptrade.auth.errors import AuthError, BadAuthRequest
from taptrade.auth.session_keys import P256_N, load_session_key, verify_session_signature

B64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
MESSAGE = b"Tap Trading Bet\nAction: place_bet\nBet: 1"
PRIVATE_KEY = ec.derive_private_key(0x5E55_1011, ec.SECP256R1())
DETERMINISTIC_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
SPKI = PRIVATE_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)


def b64url(data: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(data).decode("ascii")
    return text if padded else text.rstrip("=")


def raw_signature(message: bytes = MESSAGE, key: ec.EllipticCurvePrivateKey = PRIVATE_KEY) -> bytes:
    """What WebCrypto's sign() returns: r || s, 32 bytes each (deterministic here, so runs repeat)."""
    r, s = decode_dss_signature(key.sign(message, DETERMINISTIC_ECDSA))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def spki_of(key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePublicKey:
    return load_session_key(b64url(SPKI))


def assert_bad_signature(key: ec.EllipticCurvePublicKey, signature: str, message: bytes = MESSAGE) -> None:
    with pytest.raises(AuthError) as caught:
        verify_session_signature(key, message, signature)
    assert caught.value.code == "bad_signature"


def test_loads_the_p256_key_it_was_given(key: ec.EllipticCurvePublicKey) -> None:
    assert spki_of(key) == SPKI


def test_loads_padded_base64url() -> None:
    assert spki_of(load_session_key(b64url(SPKI, padded=True))) == SPKI


def test_raw_signature_verifies(key: ec.EllipticCurvePublicKey) -> None:
    verify_session_signature(key, MESSAGE, b64url(raw_signature()))


def test_padded_signature_verifies(key: ec.EllipticCurvePublicKey) -> None:
    verify_session_signature(key, MESSAGE, b64url(raw_signature(), padded=True))


def test_high_s_signature_verifies(key: ec.EllipticCurvePublicKey) -> None:
    # WebCrypto does not normalise s to the lower half; refusing high s would refuse about half the taps.
    raw = raw_signature()
    s = int.from_bytes(raw[32:], "big")
    high = raw[:32] + max(s, P256_N - s).to_bytes(32, "big")
    verify_session_signature(key, MESSAGE, b64url(high))


def test_tampered_message_is_bad_signature(key: ec.EllipticCurvePublicKey) -> None:
    assert_bad_signature(key, b64url(raw_signature()), MESSAGE.replace(b"Bet: 1", b"Bet: 2"))


def test_tampered_signature_is_bad_signature(key: ec.EllipticCurvePublicKey) -> None:
    raw = bytearray(raw_signature())
    raw[10] ^= 0x01
    assert_bad_signature(key, b64url(bytes(raw)))


def test_signature_by_another_key_is_bad_signature(key: ec.EllipticCurvePublicKey) -> None:
    assert_bad_signature(key, b64url(raw_signature(key=ec.derive_private_key(0x07_7E4, ec.SECP256R1()))))


@pytest.mark.parametrize("length", [63, 65, 0, 32])
def test_wrong_signature_length_is_bad_signature(key: ec.EllipticCurvePublicKey, length: int) -> None:
    assert_bad_signature(key, b64url((raw_signature() * 2)[:length]))


def test_der_encoded_signature_is_bad_signature(key: ec.EllipticCurvePublicKey) -> None:
    assert_bad_signature(key, b64url(PRIVATE_KEY.sign(MESSAGE, DETERMINISTIC_ECDSA)))


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:40] + "!" + t[41:], id="non-alphabet"),
        pytest.param(lambda t: t[:40] + "+" + t[41:], id="standard-alphabet"),
        pytest.param(lambda t: t[:40] + "\n" + t[40:], id="line-break"),
        pytest.param(lambda t: t + "=", id="wrong-padding"),
        pytest.param(lambda t: t + "===", id="too-much-padding"),
        pytest.param(
            lambda t: t[:-1] + B64URL_ALPHABET[B64URL_ALPHABET.index(t[-1]) ^ 1], id="stray-low-bits"
        ),
        pytest.param(lambda t: "", id="empty"),
    ],
)
def test_non_base64url_signature_is_bad_signature(
    key: ec.EllipticCurvePublicKey, mangle: Callable[[str], str]
) -> None:
    assert_bad_signature(key, mangle(b64url(raw_signature())))


@pytest.mark.parametrize(
    ("offset", "value"),
    [
        pytest.param(0, 0, id="r-zero"),
        pytest.param(32, 0, id="s-zero"),
        pytest.param(0, P256_N, id="r-equals-order"),
        pytest.param(32, P256_N, id="s-equals-order"),
    ],
)
def test_scalar_out_of_range_is_bad_signature(
    key: ec.EllipticCurvePublicKey, offset: int, value: int
) -> None:
    raw = raw_signature()
    assert_bad_signature(key, b64url(raw[:offset] + value.to_bytes(32, "big") + raw[offset + 32 :]))


@pytest.mark.parametrize(
    "spki",
    [
        pytest.param(spki_of(ec.derive_private_key(7, ec.SECP384R1()).public_key()), id="p384"),
        pytest.param(spki_of(ec.derive_private_key(7, ec.SECP256K1()).public_key()), id="secp256k1"),
        pytest.param(
            spki_of(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key()), id="ed25519"
        ),
        pytest.param(SPKI + b"\x00", id="trailing-garbage"),
        pytest.param(SPKI[:-1], id="truncated"),
        pytest.param(SPKI[:-1] + bytes((SPKI[-1] ^ 1,)), id="point-off-curve"),
        pytest.param(b"garbage", id="garbage"),
        pytest.param(b"", id="empty"),
    ],
)
def test_load_rejects_anything_but_a_p256_spki(spki: bytes) -> None:
    with pytest.raises(BadAuthRequest):
        load_session_key(b64url(spki))


def test_load_rejects_compressed_point() -> None:
    # Valid DER, but WebCrypto exports the uncompressed point; one key must have one spelling.
    point = PRIVATE_KEY.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    header = bytes.fromhex("3039301306072a8648ce3d020106082a8648ce3d030107032200")
    with pytest.raises(BadAuthRequest, match="uncompressed"):
        load_session_key(b64url(header + point))


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b64url(SPKI)[:60] + "!" + b64url(SPKI)[61:], id="non-alphabet"),
        pytest.param(b64url(SPKI)[:60] + "/" + b64url(SPKI)[61:], id="standard-alphabet"),
        pytest.param(b64url(SPKI) + "=", id="wrong-padding"),
        pytest.param(" " + b64url(SPKI), id="leading-space"),
    ],
)
def test_load_rejects_non_base64url(text: str) -> None:
    with pytest.raises(BadAuthRequest, match="base64url"):
        load_session_key(text)


def test_load_rejects_over_long_input() -> None:
    with pytest.raises(BadAuthRequest, match="longer than 200"):
        load_session_key(b64url(SPKI) + "A" * 80)
