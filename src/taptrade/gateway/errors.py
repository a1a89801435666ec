"""API errors: each carries its HTTP status and API.md code; one handler renders them as
`{"error": {"code", "message"}}` (with `Retry-After` where the contract asks for it).

ApiError
├── 400 bad_request          malformed input
├── 401 bad_signature, stale_timestamp, replayed_nonce, wrong_chain, no_session, bad_nonce, expired,
│       wrong_domain
├── 404 not_found
├── 409 bet_id_conflict, cell_taken
├── 410 archived                          history only cold storage holds (restorable)
├── 413 too_large
├── 422 insufficient_funds, cell_not_placeable, bad_stake, multiplier_moved, no_quote, ...
├── 429 rate_limited                      (Retry-After)
├── 503 price_feed_stale, unavailable     (Retry-After)
└── 504 timeout                           the outcome is unknown: ask GET /api/bets/{bet_id}
"""

from __future__ import annotations

import math

import msgspec
from starlette.responses import Response

_encoder = msgspec.json.Encoder()


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after_s = retry_after_s

    def response(self) -> Response:
        return error_response(self.status, self.code, self.message, self.retry_after_s)


def error_body(code: str, message: str) -> bytes:
    return _encoder.encode({"error": {"code": code, "message": message}})


def retry_after(seconds: float) -> str:
    """The `Retry-After` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))


def error_response(status: int, code: str, message: str, retry_after_s: float | None = None) -> Response:
    headers = {"Retry-After": retry_after(retry_after_s)} if retry_after_s is not None else None
    return Response(
        error_body(code, message), status_code=status, headers=headers, media_type="application/json"
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message)


def not_found(message: str = "not found") -> ApiError:
    return ApiError(404, "not_found", message)


def rule(code: str, message: str) -> ApiError:
    return ApiError(422, code, message)


def unavailable(message: str, retry_after_s: float = 1.0) -> ApiError:
    return ApiError(503, "unavailable", message, retry_after_s)


# A full disk lasts until an operator frees space: clients need not come back every second.
STORAGE_RETRY_AFTER_S = 5.0


def not_applied(code: str, message: str, what: str) -> ApiError:
    """503 for a ledger answer that is neither a success nor a refusal of the request itself: `what`
    (say "the ledger could not take this bet") and why, with the ledger's own words when its storage
    refuses writes."""
    if code == "storage_unavailable":
        return unavailable(f"{what}: {message}", STORAGE_RETRY_AFTER_S)
    return unavailable(f"{what} ({code})")


def feed_stale() -> ApiError:
    return ApiError(503, "price_feed_stale", "betting is suspended: the price feed is stale", 5.0)


# Ledger result codes -> HTTP status.
LEDGER_STATUS = {
    "insufficient_funds": 422,
    "cell_not_placeable": 422,
    "bad_stake": 422,
    "loss_limit": 422,
    "cooling_down": 422,
    "cell_taken": 409,
    "bet_id_conflict": 409,
    "command_id_conflict": 409,
    "bad_command": 400,
}
