"""Sign-In with Ethereum (EIP-4361): checks a login message and its `personal_sign` signature, and
extracts the browser's session key from the message's Resources.

Everything judged comes from the message and the arguments (allowed domains, chain, the caller's clock);
never from request headers. The nonce is only returned: the gateway consumes it in Redis.

Parsing uses the siwe library's ABNF grammar, which is strict but slow: ~13-25 ms for a usual message
and growing faster than linearly with length, hence the cap on the message's length before parsing.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from abnf import GrammarWarning
from cryptography.hazmat.primitives.asymmetric import ec

from taptrade.auth.eip191 import parse_signature_hex, recover_address
from taptrade.auth.errors import AuthError, BadAuthRequest
from taptrade.auth.session_keys import SESSION_KEY_RESOURCE_PREFIX, load_session_key

# abnf 2.8 warns, while siwe 4.4 loads its grammar, that the grammar redefines core rules (ALPHA, DIGIT);
# harmless, but under warnings-as-errors it would make this module unimportable.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", GrammarWarning)
    from siwe import SiweMessage  # type: ignore[import-untyped]

# A login message with our session-key resource is ~400-650 characters. The ABNF parser needs ~250 ms for
# 1,000 characters of the wrong kind, so more is refused unparsed.
MAX_LOGIN_MESSAGE_CHARS = 1024

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class LoginMessage:
    """The fields of a parsed EIP-4361 message that a login is judged on, as written in it."""

    domain: str
    address: str
    uri: str
    chain_id: int
    nonce: str
    issued_ms: int
    expires_ms: int | None
    not_before_ms: int | None
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VerifiedLogin:
    address: str  # lowercase "0x" + 40 hex
    nonce: str
    session_key_b64: str  # the resource's base64url text as the client wrote it
    session_key: ec.EllipticCurvePublicKey
    issued_ms: int
    expires_ms: int | None  # the message's Expiration Time, if it has one


def _timestamp_ms(text: str) -> int:
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadAuthRequest(f"not an ISO 8601 time: {text[:40]!r}") from exc
    if instant.tzinfo is None:
        raise BadAuthRequest(f"time has no UTC offset: {text[:40]!r}")
    return (instant - _EPOCH) // _ONE_MS


def parse_login_message(message: str) -> LoginMessage:
    """Parse an EIP-4361 message; BadAuthRequest if it is too long or does not follow the grammar."""
    if len(message) > MAX_LOGIN_MESSAGE_CHARS:
        raise BadAuthRequest(f"login message is longer than {MAX_LOGIN_MESSAGE_CHARS} characters")
    try:
        # siwe's regular-expression parser, not its ABNF one: both accept and refuse the same test vectors
        # (tests/unit/test_auth_siwe.py), and the ABNF parser costs ~13 ms of pure Python per login, long
        # enough to stall every other request on the worker's event loop; this one takes ~40 µs.
        parsed = SiweMessage.from_message(message, abnf=False)
    except ValueError as exc:  # the grammar's ParseError and pydantic's ValidationError are both ValueErrors
        raise BadAuthRequest("not a Sign-In with Ethereum (EIP-4361) message") from exc
    return LoginMessage(
        domain=str(parsed.domain),
        address=str(parsed.address),
        uri=str(parsed.uri),
        chain_id=int(parsed.chain_id),
        nonce=str(parsed.nonce),
        issued_ms=_timestamp_ms(parsed.issued_at),
        expires_ms=None if parsed.expiration_time is None else _timestamp_ms(parsed.expiration_time),
        not_before_ms=None if parsed.not_before is None else _timestamp_ms(parsed.not_before),
        resources=tuple(str(resource) for resource in parsed.resources or ()),
    )


def _uri_authority(uri: str) -> str:
    """The URI's authority as written (userinfo@host:port): it must equal the message's domain."""
    try:
        return urlsplit(uri).netloc
    except ValueError as exc:
        raise BadAuthRequest("the message's URI cannot be split") from exc


def _session_key_text(resources: tuple[str, ...]) -> str:
    keys = [
        r.removeprefix(SESSION_KEY_RESOURCE_PREFIX)
        for r in resources
        if r.startswith(SESSION_KEY_RESOURCE_PREFIX)
    ]
    if len(keys) != 1:
        raise BadAuthRequest(
            f"the message's Resources must hold exactly one {SESSION_KEY_RESOURCE_PREFIX}<key>, "
            f"found {len(keys)}"
        )
    return keys[0]


def verify_login(
    message: str,
    signature: str,
    *,
    allowed_domains: Sequence[str],
    chain_id: int,
    now_ms: int,
    max_age_ms: int = 300_000,
    clock_skew_ms: int = 60_000,
) -> VerifiedLogin:
    """Check a SIWE login: domain, URI, chain, time window, then the signature, then the session key.

    AuthError (401) for a message that does not authenticate; BadAuthRequest (400) for one that is not
    well-formed. CPU-bound for ~13-25 ms (the ABNF parse): run it off the event loop.
    """
    # A lone string is a Sequence[str] too, and `in` would then match any substring of it.
    if isinstance(allowed_domains, str):
        raise TypeError("allowed_domains must be a list of domains, not one string")
    try:
        message_bytes = message.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates, which JSON can carry
        raise BadAuthRequest("login message is not valid Unicode") from exc
    login = parse_login_message(message)

    if login.domain not in allowed_domains:
        raise AuthError("wrong_domain", f"the message is for {login.domain[:100]!r}, not for this site")
    if _uri_authority(login.uri) != login.domain:
        raise AuthError("wrong_domain", "the message's URI is not on the message's domain")
    if login.chain_id != chain_id:
        raise AuthError(
            "wrong_chain", f"the message is for chain {login.chain_id}, this site uses {chain_id}"
        )
    if login.issued_ms > now_ms + clock_skew_ms:
        raise AuthError("expired", "the message's Issued At is in the future: check the device's clock")
    if now_ms - login.issued_ms > max_age_ms:
        raise AuthError("expired", "the message was issued too long ago: sign in again")
    if login.expires_ms is not None and login.expires_ms <= now_ms:
        raise AuthError("expired", "the message's Expiration Time has passed: sign in again")
    if login.not_before_ms is not None and login.not_before_ms > now_ms + clock_skew_ms:
        raise AuthError("expired", "the message's Not Before is still in the future")

    # Over the exact text received: re-serialising the parsed fields could sign-check a different text.
    signer = recover_address(message_bytes, parse_signature_hex(signature))
    if signer != login.address.lower():
        raise AuthError("bad_signature", "the signature is not by the message's address")

    key_text = _session_key_text(login.resources)
    return VerifiedLogin(
        address=signer,
        nonce=login.nonce,
        session_key_b64=key_text,
        session_key=load_session_key(key_text),
        issued_ms=login.issued_ms,
        expires_ms=login.expires_ms,
    )
