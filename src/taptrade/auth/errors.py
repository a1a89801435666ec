"""Errors of the auth primitives; the gateway turns them into the API's JSON errors.

    Exception
    └── AuthError          401: well-formed, but does not authenticate; `code` says why
                           (bad_signature, expired, wrong_domain, wrong_chain here; the gateway adds
                           bad_nonce, stale_timestamp, replayed_nonce, no_session)
    ValueError
    └── BadAuthRequest     400: not even well-formed enough to judge (an unparseable SIWE message,
                           a missing or malformed session key)

Messages are safe to show to the client: they never carry secrets, and never more than a short echo of
what the client itself sent.
"""

from __future__ import annotations


class AuthError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"AuthError({self.code!r}, {self.message!r})"


class BadAuthRequest(ValueError):
    pass
