"""EIP-191 `personal_sign`: the hash a wallet signs, and the address that signed it.

Used for every login and for each bet of a bot that signs with its wallet key, so recovery is a hot path:
coincurve and pycryptodome's keccak directly (~55 µs a call), not eth_account (~110-200 µs).
"""

from __future__ import annotations

import re

from coincurve import PublicKey

# The `Crypto` package here is pycryptodome (maintained), not the abandoned PyCrypto the scanner means.
from Crypto.Hash import keccak  # nosec B413

from taptrade.auth.errors import AuthError

# Order of the secp256k1 group: r and s must lie in [1, N - 1].
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

SIGNATURE_BYTES = 65
_SIGNATURE_HEX_CHARS = 2 + 2 * SIGNATURE_BYTES
# fullmatch with an explicit class: bytes.fromhex alone would accept spaces, and \d or str.isalnum
# would accept non-ASCII digits.
_SIGNATURE_HEX_RE = re.compile(r"0x[0-9a-fA-F]{130}")
_PERSONAL_SIGN_PREFIX = b"\x19Ethereum Signed Message:\n"


def _keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def _bad_signature(message: str) -> AuthError:
    return AuthError("bad_signature", message)


_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


def normalise_address(text: str) -> str:
    """Any-case (checksummed or not) 0x address -> the lowercase form users are keyed by."""
    if not _ADDRESS_RE.fullmatch(text):
        raise ValueError(f"not an Ethereum address (0x and 40 hex digits): {text[:50]!r}")
    return text.lower()


def parse_signature_hex(text: str) -> bytes:
    """ "0x" + 130 hex digits (either case) -> the 65 signature bytes."""
    if len(text) != _SIGNATURE_HEX_CHARS or _SIGNATURE_HEX_RE.fullmatch(text) is None:
        raise _bad_signature("signature must be 0x followed by 130 hex digits (65 bytes)")
    return bytes.fromhex(text[2:])


def personal_sign_hash(message: bytes) -> bytes:
    """keccak256("\\x19Ethereum Signed Message:\\n" + decimal length + message)."""
    return _keccak256(_PERSONAL_SIGN_PREFIX + str(len(message)).encode("ascii") + message)


def recover_address(message: bytes, signature: bytes) -> str:
    """The address ("0x" + 40 lowercase hex) whose key made `signature` (r || s || v) over `message`.

    v may be 27/28 (most wallets) or 0/1 (some hardware wallets and libraries). A high s is accepted, as
    eth_account and wallets do: malleability cannot replay anything here, since every signed message
    carries a single-use nonce.
    """
    if len(signature) != SIGNATURE_BYTES:
        raise _bad_signature(f"signature must be {SIGNATURE_BYTES} bytes")
    v = signature[64]
    recovery_id = v - 27 if v >= 27 else v
    # Ids 2 and 3 (r >= N) are possible in theory but never produced for Ethereum; reject them.
    if recovery_id not in (0, 1):
        raise _bad_signature("signature v must be 27, 28, 0 or 1")
    r = int.from_bytes(signature[0:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise _bad_signature("signature r and s must lie between 1 and the curve order")
    try:
        public_key = PublicKey.from_signature_and_message(
            signature[:64] + bytes((recovery_id,)), personal_sign_hash(message), hasher=None
        )
    except ValueError as exc:
        raise _bad_signature("no public key recovers from this signature") from exc
    # The address is the last 20 bytes of keccak256 of the 64-byte point (without the 0x04 prefix).
    return "0x" + _keccak256(public_key.format(compressed=False)[1:])[-20:].hex()
