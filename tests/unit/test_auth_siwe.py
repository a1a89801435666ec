"""Sign-In with Ethereum: parsing against the spruceid vectors, and every way a login can fail.

Our own messages are signed by fixed keys (eth_account for the wallet, a derived P-256 key for the
session), so every run signs the same bytes.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from taptrade.auth.eip191 import parse_signature_hex, recover_address
from taptrade.auth.errors import AuthError, BadAuthRequest
from taptrade.auth.siwe_login import (
    MAX_LOGIN_MESSAGE_CHARS,
    VerifiedLogin,
    parse_login_message,
    verify_login,
)

VECTORS_DIR = Path(__file__).parent.parent / "vectors"


def load_vectors(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((VECTORS_DIR / name).read_text(encoding="utf-8"))
    return loaded


PARSING_POSITIVE = load_vectors("siwe-parsing_positive.json")
PARSING_NEGATIVE = load_vectors("siwe-parsing_negative.json")
VERIFICATION = load_vectors("siwe-verification_positive.json")

WALLET: LocalAccount = Account.from_key("0x" + "a1" * 32)
OTHER_WALLET: LocalAccount = Account.from_key("0x" + "b2" * 32)
SESSION_SPKI = (
    ec.derive_private_key(0x5E55_1011, ec.SECP256R1())
    .public_key()
    .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
)
SESSION_B64 = base64.urlsafe_b64encode(SESSION_SPKI).decode("ascii").rstrip("=")
SESSION_RESOURCE = f"urn:taptrade:session-key:{SESSION_B64}"

DOMAIN = "127.0.0.1:8000"
URI = "http://127.0.0.1:8000/"
CHAIN_ID = 1
NONCE = "n0nce1234abcdXYZ"
NOW_MS = 1_763_700_000_000
ISSUED_MS = NOW_MS - 10_000
MAX_AGE_MS = 300_000
SKEW_MS = 60_000
# The spruceid vectors' times span 2020 to 2101; their tests are about signatures, so the window is wide.
WIDE_MS = 200 * 365 * 86_400_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int) -> str:
    instant = _EPOCH + timedelta(milliseconds=ms)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_ms(text: str) -> int:
    return (datetime.fromisoformat(text) - _EPOCH) // timedelta(milliseconds=1)


def siwe_text(
    *,
    domain: str,
    address: str,
    statement: str | None,
    uri: str,
    chain_id: int,
    nonce: str,
    issued_at: str,
    expiration_time: str | None = None,
    not_before: str | None = None,
    resources: tuple[str, ...] = (),
) -> str:
    """An EIP-4361 message, written out field by field as the spec lays it out."""
    head = f"{domain} wants you to sign in with your Ethereum account:\n{address}\n\n"
    head += f"{statement}\n\n" if statement is not None else "\n"
    lines = [
        f"URI: {uri}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {issued_at}",
    ]
    if expiration_time is not None:
        lines.append(f"Expiration Time: {expiration_time}")
    if not_before is not None:
        lines.append(f"Not Before: {not_before}")
    if resources:
        lines.append("Resources:")
        lines.extend(f"- {resource}" for resource in resources)
    return head + "\n".join(lines)


def login_text(
    *,
    domain: str = DOMAIN,
    uri: str = URI,
    chain_id: int = CHAIN_ID,
    issued_ms: int = ISSUED_MS,
    expires_ms: int | None = None,
    not_before_ms: int | None = None,
    resources: tuple[str, ...] = (SESSION_RESOURCE,),
    statement: str = "Sign in to Tap Trading",
) -> str:
    return siwe_text(
        domain=domain,
        address=WALLET.address,
        statement=statement,
        uri=uri,
        chain_id=chain_id,
        nonce=NONCE,
        issued_at=iso(issued_ms),
        expiration_time=None if expires_ms is None else iso(expires_ms),
        not_before=None if not_before_ms is None else iso(not_before_ms),
        resources=resources,
    )


def sign(text: str, wallet: LocalAccount = WALLET) -> str:
    return "0x" + bytes(wallet.sign_message(encode_defunct(text=text)).signature).hex()


def verify(text: str, signature: str | None = None, **overrides: Any) -> VerifiedLogin:
    arguments: dict[str, Any] = {
        "allowed_domains": [DOMAIN],
        "chain_id": CHAIN_ID,
        "now_ms": NOW_MS,
        "max_age_ms": MAX_AGE_MS,
        "clock_skew_ms": SKEW_MS,
    }
    arguments.update(overrides)
    return verify_login(text, sign(text) if signature is None else signature, **arguments)


def assert_auth_error(code: str, text: str, signature: str | None = None, **overrides: Any) -> None:
    with pytest.raises(AuthError) as caught:
        verify(text, signature, **overrides)
    assert caught.value.code == code


# --- parsing vectors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PARSING_POSITIVE))
def test_positive_parsing_vector_parses_to_its_fields(name: str) -> None:
    vector = PARSING_POSITIVE[name]
    fields = vector["fields"]
    parsed = parse_login_message(vector["message"])
    assert (parsed.domain, parsed.address, parsed.chain_id, parsed.nonce) == (
        fields["domain"],
        fields["address"],
        fields["chainId"],
        fields["nonce"],
    )


def test_issued_at_with_an_offset_is_converted_to_utc() -> None:
    parsed = parse_login_message(PARSING_POSITIVE["timezone not utc"]["message"])
    assert parsed.issued_ms == iso_ms("2021-09-30T18:25:24Z")


@pytest.mark.parametrize("name", sorted(PARSING_NEGATIVE))
def test_negative_parsing_vector_is_a_bad_request(name: str) -> None:
    with pytest.raises(BadAuthRequest):
        verify_login(
            PARSING_NEGATIVE[name],
            "0x" + "11" * 65,
            allowed_domains=["service.org"],
            chain_id=1,
            now_ms=iso_ms("2022-03-17T12:45:14Z"),
        )


def test_over_long_message_is_refused_before_parsing() -> None:
    text = login_text(statement="a" * MAX_LOGIN_MESSAGE_CHARS)
    with pytest.raises(BadAuthRequest, match="longer than"):
        verify(text)


def test_message_with_lone_surrogate_is_a_bad_request() -> None:
    with pytest.raises(BadAuthRequest):
        verify(login_text(statement="Sign in \ud800"), "0x" + "11" * 65)


# --- verification vectors (signed by others, without our session-key resource) ---------------------------


def vector_text(vector: dict[str, Any]) -> str:
    return siwe_text(
        domain=vector["domain"],
        address=vector["address"],
        statement=vector["statement"],
        uri=vector["uri"],
        chain_id=vector["chainId"],
        nonce=vector["nonce"],
        issued_at=vector["issuedAt"],
        expiration_time=vector.get("expirationTime"),
        not_before=vector.get("notBefore"),
    )


def vector_now_ms(vector: dict[str, Any]) -> int:
    return iso_ms(vector["time"]) if "time" in vector else iso_ms(vector["issuedAt"]) + 1000


# EIP-4361 lets the URI live elsewhere than the domain; we do not (the tally.xyz vector signs in on
# www.tally.xyz with URI https://tally.xyz).
ON_DOMAIN = sorted(name for name, v in VERIFICATION.items() if urlsplit(v["uri"]).netloc == v["domain"])


def verify_vector(vector: dict[str, Any], signature: str) -> VerifiedLogin:
    return verify_login(
        vector_text(vector),
        signature,
        allowed_domains=[vector["domain"]],
        chain_id=vector["chainId"],
        now_ms=vector_now_ms(vector),
        max_age_ms=WIDE_MS,
        clock_skew_ms=WIDE_MS,
    )


def test_most_verification_vectors_are_on_their_domain() -> None:
    assert len(ON_DOMAIN) == len(VERIFICATION) - 1


@pytest.mark.parametrize("name", sorted(VERIFICATION))
def test_verification_vector_signature_recovers_its_address(name: str) -> None:
    vector = VERIFICATION[name]
    signer = recover_address(vector_text(vector).encode("utf-8"), parse_signature_hex(vector["signature"]))
    assert signer == vector["address"].lower()


@pytest.mark.parametrize("name", ON_DOMAIN)
def test_verification_vector_passes_every_check_but_lacks_the_session_key(name: str) -> None:
    # BadAuthRequest is no AuthError: reaching it means domain, chain, times and signature all passed.
    with pytest.raises(BadAuthRequest, match="urn:taptrade:session-key"):
        verify_vector(VERIFICATION[name], VERIFICATION[name]["signature"])


@pytest.mark.parametrize("name", ON_DOMAIN)
def test_verification_vector_with_a_foreign_signature_fails_on_the_signature(name: str) -> None:
    other = next(v["signature"] for n, v in VERIFICATION.items() if n != name)
    with pytest.raises(AuthError) as caught:
        verify_vector(VERIFICATION[name], other)
    assert caught.value.code == "bad_signature"


def test_verification_vector_with_uri_off_its_domain_is_wrong_domain() -> None:
    vector = VERIFICATION["recovery byte starting at 0"]
    with pytest.raises(AuthError) as caught:
        verify_vector(vector, vector["signature"])
    assert caught.value.code == "wrong_domain"


# --- our own logins --------------------------------------------------------------------------------------


def test_login_verifies_and_returns_the_signer_and_session_key() -> None:
    login = verify(login_text(expires_ms=NOW_MS + 3_600_000))
    assert login.address == WALLET.address.lower()
    assert login.nonce == NONCE
    assert login.session_key_b64 == SESSION_B64
    assert (
        login.session_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == SESSION_SPKI
    )
    assert (login.issued_ms, login.expires_ms) == (ISSUED_MS, NOW_MS + 3_600_000)


def test_login_without_expiration_time_has_no_expiry() -> None:
    assert verify(login_text()).expires_ms is None


def test_session_key_text_is_returned_as_written() -> None:
    padded = SESSION_B64 + "=" * (-len(SESSION_B64) % 4)
    assert padded != SESSION_B64
    login = verify(login_text(resources=(f"urn:taptrade:session-key:{padded}",)))
    assert login.session_key_b64 == padded


def test_other_resources_beside_the_session_key_are_allowed() -> None:
    login = verify(login_text(resources=("https://127.0.0.1:8000/terms", SESSION_RESOURCE)))
    assert login.session_key_b64 == SESSION_B64


def test_any_of_the_allowed_domains_is_accepted() -> None:
    text = login_text(domain="localhost:5173", uri="http://localhost:5173/")
    assert verify(text, allowed_domains=[DOMAIN, "localhost:5173"]).address == WALLET.address.lower()


def test_domain_not_allowed_is_wrong_domain() -> None:
    assert_auth_error("wrong_domain", login_text(domain="evil.example", uri="https://evil.example/"))


def test_domain_match_is_exact_not_a_prefix() -> None:
    assert_auth_error("wrong_domain", login_text(domain="127.0.0.1:80", uri="http://127.0.0.1:80/"))


def test_allowed_domains_as_one_string_is_refused() -> None:
    # Otherwise "127.0.0.1:80" would pass as a substring of "127.0.0.1:8000".
    with pytest.raises(TypeError):
        verify(login_text(), allowed_domains=DOMAIN)


@pytest.mark.parametrize(
    "uri",
    [
        pytest.param("https://evil.example/", id="other-host"),
        pytest.param("http://127.0.0.1:8001/", id="other-port"),
        pytest.param("http://127.0.0.1/", id="no-port"),
        pytest.param("http://user@127.0.0.1:8000/", id="userinfo"),
        pytest.param("urn:taptrade:login", id="no-authority"),
    ],
)
def test_uri_off_the_domain_is_wrong_domain(uri: str) -> None:
    assert_auth_error("wrong_domain", login_text(uri=uri))


def test_other_chain_is_wrong_chain() -> None:
    assert_auth_error("wrong_chain", login_text(chain_id=5))


def test_issued_in_the_future_beyond_the_skew_is_expired() -> None:
    assert_auth_error("expired", login_text(issued_ms=NOW_MS + SKEW_MS + 1))


def test_issued_in_the_future_within_the_skew_is_accepted() -> None:
    assert verify(login_text(issued_ms=NOW_MS + SKEW_MS)).issued_ms == NOW_MS + SKEW_MS


def test_issued_longer_ago_than_max_age_is_expired() -> None:
    assert_auth_error("expired", login_text(issued_ms=NOW_MS - MAX_AGE_MS - 1))


def test_issued_exactly_max_age_ago_is_accepted() -> None:
    assert verify(login_text(issued_ms=NOW_MS - MAX_AGE_MS)).issued_ms == NOW_MS - MAX_AGE_MS


def test_expiration_time_now_is_expired() -> None:
    assert_auth_error("expired", login_text(expires_ms=NOW_MS))


def test_expiration_time_just_ahead_is_accepted() -> None:
    assert verify(login_text(expires_ms=NOW_MS + 1)).expires_ms == NOW_MS + 1


def test_not_before_beyond_the_skew_is_expired() -> None:
    assert_auth_error("expired", login_text(not_before_ms=NOW_MS + SKEW_MS + 1))


def test_not_before_within_the_skew_is_accepted() -> None:
    assert verify(login_text(not_before_ms=NOW_MS + SKEW_MS)).address == WALLET.address.lower()


def test_signature_by_another_wallet_is_bad_signature() -> None:
    text = login_text()
    assert_auth_error("bad_signature", text, sign(text, OTHER_WALLET))


def test_tampered_message_text_is_bad_signature() -> None:
    signature = sign(login_text())
    assert_auth_error("bad_signature", login_text(statement="Sign in to Tap Trading!"), signature)


def test_malformed_signature_is_bad_signature() -> None:
    assert_auth_error("bad_signature", login_text(), sign(login_text())[:-2])


def test_expiry_is_judged_before_the_signature() -> None:
    assert_auth_error("expired", login_text(expires_ms=NOW_MS), "0x" + "11" * 65)


def test_two_session_key_resources_are_a_bad_request() -> None:
    second = SESSION_RESOURCE + "=" * (-len(SESSION_B64) % 4)
    with pytest.raises(BadAuthRequest, match="exactly one"):
        verify(login_text(resources=(SESSION_RESOURCE, second)))


def test_missing_session_key_resource_is_a_bad_request() -> None:
    with pytest.raises(BadAuthRequest, match="exactly one"):
        verify(login_text(resources=("https://127.0.0.1:8000/terms",)))


@pytest.mark.parametrize(
    "key_text",
    [
        pytest.param(SESSION_B64[:-4], id="truncated"),
        pytest.param(
            base64.urlsafe_b64encode(
                ec.derive_private_key(7, ec.SECP384R1())
                .public_key()
                .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            )
            .decode("ascii")
            .rstrip("="),
            id="p384",
        ),
        pytest.param("", id="empty"),
    ],
)
def test_malformed_session_key_is_a_bad_request(key_text: str) -> None:
    with pytest.raises(BadAuthRequest, match="session key"):
        verify(login_text(resources=(f"urn:taptrade:session-key:{key_text}",)))
