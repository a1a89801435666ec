"""The gateway's outermost ASGI app: `POST /api/bets` goes straight to its handler, everything else to the
FastAPI app behind it.

A bet is the request that must be cheap (3,000 a second on a few cores), and the framework's layers (its
error and exception middleware, dependency scopes, routing, telemetry hooks) cost as much CPU per request
as the handler's own Python. The lane does for this one route what those layers would: the 8 KiB body
limit (by header and by counting), the error body of API.md for every refusal, 503 `unavailable` for
anything unexpected (never a 500), and the request metrics. It also sheds load: with `max_in_flight` bets
already being handled, a new one is answered 503 `unavailable` with Retry-After at once, since beyond
capacity a queue only turns into latency for everyone.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from taptrade.gateway.bets import place_bet
from taptrade.gateway.errors import ApiError, error_body, retry_after
from taptrade.gateway.metrics import BETS_PLACED_TOTAL, RequestRecorder
from taptrade.gateway.state import GatewayState
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

BET_PATH = "/api/bets"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class BodyTooLarge(Exception):
    """More body arrived than the limit allows (also used by the framework side's BodyLimit)."""


class BadContentLength(Exception):
    pass


class FastLane:
    def __init__(self, api: FastAPI, max_body_bytes: int, max_in_flight: int = 512) -> None:
        self.api = api
        self.max_body_bytes = max_body_bytes
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self._requests = RequestRecorder()
        self._outcomes: dict[str, Any] = {}

    @property
    def state(self) -> Any:
        """The FastAPI app's state (the gateway's shared state lives there)."""
        return self.api.state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == BET_PATH and scope["method"] == "POST":
            await self._bet(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _bet(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        authorization: str | None = None
        if self.in_flight >= self.max_in_flight:
            status, answer, headers = _error(503, "unavailable", "too busy right now; try again", 1.0)
            await self._answer(send, status, answer, headers)
            self._count(status, "shed", time.perf_counter() - started)
            return
        self.in_flight += 1
        try:
            length = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    authorization = value.decode("latin-1")
                elif name == b"content-length":
                    length = value
            body = await self._body(receive, length)
            state: GatewayState = self.api.state.gateway
            status, answer = await place_bet(state, body, authorization)
            outcome = "duplicate" if status == 200 else "confirmed"
            headers = _JSON_HEADERS
        except ApiError as refusal:
            status, answer, headers = _error(
                refusal.status, refusal.code, refusal.message, refusal.retry_after_s
            )
            outcome = refusal.code
        except BodyTooLarge:
            status, answer, headers = _error(413, "too_large", f"body over {self.max_body_bytes} bytes")
            outcome = "too_large"
        except BadContentLength:
            status, answer, headers = _error(400, "bad_request", "bad Content-Length")
            outcome = "bad_request"
        except Exception as exc:
            log.exception("request_failed", path=BET_PATH, error=type(exc).__name__)
            status, answer, headers = _error(503, "unavailable", "temporarily unavailable; try again", 1.0)
            outcome = "unavailable"
        finally:
            self.in_flight -= 1
        await self._answer(send, status, answer, headers)
        self._count(status, outcome, time.perf_counter() - started)

    @staticmethod
    async def _answer(send: Send, status: int, answer: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(answer)).encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": answer})

    async def _body(self, receive: Receive, length: bytes | None) -> bytes:
        if length is not None:
            if not length.isdigit():
                raise BadContentLength
            if int(length) > self.max_body_bytes:
                raise BodyTooLarge
        chunks: list[bytes] = []
        received = 0
        while True:
            message: Message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; what arrived is judged as it is
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _count(self, status: int, outcome: str, seconds: float) -> None:
        self._requests.record("POST", BET_PATH, status, seconds)
        placed = self._outcomes.get(outcome)
        if placed is None:
            placed = self._outcomes[outcome] = BETS_PLACED_TOTAL.labels(outcome)
        placed.inc()


def _error(
    status: int, code: str, message: str, retry_after_s: float | None = None
) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
    headers = list(_JSON_HEADERS)
    if retry_after_s is not None:
        headers.append((b"retry-after", retry_after(retry_after_s).encode()))
    return status, error_body(code, message), headers
