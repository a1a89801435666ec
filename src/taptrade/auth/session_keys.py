"""Session keys: the browser's P-256 public key from the login, and the bet signatures it makes.

The browser generates the key pair with WebCrypto (non-extractable private key), exports the public key as
SubjectPublicKeyInfo DER, and signs each bet with ECDSA P-256/SHA-256, which yields raw r || s (64 bytes).
Both travel as base64url. Verification is the hot path of every browser bet (~66 µs): the gateway loads the
key once per session and keeps the key object.
"""

from __future__ import annotations

import base64
import binascii
import re

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from taptrade.auth.errors import AuthError, BadAuthRequest

SESSION_KEY_RESOURCE_PREFIX = "urn:taptrade:session-key:"
# A P-256 SubjectPublicKeyInfo is 91 bytes: 122 characters of base64url, 124 with padding.
MAX_SESSION_KEY_CHARS = 200
SIGNATURE_BYTES = 64
_MAX_SIGNATURE_CHARS = 88  # 64 bytes, padded

# Order of the P-256 group: r and s must lie in [1, N - 1].
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*={0,2}")
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _b64url_decode(text: str) -> bytes | None:
    """Strict base64url, padding optional; None for anything else.

    The standard library skips characters outside the alphabet and ignores stray low bits; both are
    refused here so that one key or signature has exactly one spelling (padded or not).
    """
    if _B64URL_RE.fullmatch(text) is None:
        return None
    unpadded = text.rstrip("=")
    if len(unpadded) != len(text) and len(text) % 4 != 0:
        return None
    if len(unpadded) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(unpadded + "=" * (-len(unpadded) % 4))
    except binascii.Error:
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=") != unpadded.encode("ascii"):
        return None
    return raw


def load_session_key(b64url_spki: str) -> ec.EllipticCurvePublicKey:
    """base64url of a P-256 SubjectPublicKeyInfo (DER, uncompressed point, as WebCrypto exports it)."""
    if len(b64url_spki) > MAX_SESSION_KEY_CHARS:
        raise BadAuthRequest(f"session key is longer than {MAX_SESSION_KEY_CHARS} characters")
    der = _b64url_decode(b64url_spki)
    if der is None:
        raise BadAuthRequest("session key is not base64url")
    try:
        key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadAuthRequest("session key is not a DER SubjectPublicKeyInfo") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise BadAuthRequest("session key must be an ECDSA P-256 public key")
    # Only the canonical encoding (no compressed point, no alternative DER): one key, one text.
    canonical = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if canonical != der:
        raise BadAuthRequest("session key must be the SubjectPublicKeyInfo of an uncompressed P-256 point")
    return key


def verify_session_signature(key: ec.EllipticCurvePublicKey, message: bytes, signature_b64url: str) -> None:
    """Check an ECDSA P-256/SHA-256 signature, base64url of raw r || s (64 bytes), over `message`.

    A high s is accepted: WebCrypto does not normalise s, and each bet carries a single-use nonce anyway.
    """
    raw = _b64url_decode(signature_b64url) if len(signature_b64url) <= _MAX_SIGNATURE_CHARS else None
    if raw is None or len(raw) != SIGNATURE_BYTES:
        raise AuthError("bad_signature", "signature must be base64url of 64 bytes (raw r || s)")
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:], "big")
    if not (0 < r < P256_N and 0 < s < P256_N):
        raise AuthError("bad_signature", "signature r and s must lie between 1 and the curve order")
    try:
        key.verify(encode_dss_signature(r, s), message, _ECDSA_SHA256)
    except InvalidSignature as exc:
        raise AuthError("bad_signature", "signature does not match the session key") from exc
