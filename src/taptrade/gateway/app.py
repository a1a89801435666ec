"""The gateway's ASGI app: FastAPI for the API's conventions and its OpenAPI document, with the hot path
`POST /api/bets` as a lean Starlette route ahead of FastAPI's. Every error leaves in API.md's shape;
nothing, however malformed, gets a 500 or a stack trace."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taptrade import __version__
from taptrade.clock import Clock
from taptrade.config import Settings
from taptrade.gateway import account, openapi, public
from taptrade.gateway.errors import ApiError, error_response
from taptrade.gateway.fast_lane import BET_PATH, BodyTooLarge, FastLane
from taptrade.gateway.metrics import RequestMetrics, metrics_endpoint
from taptrade.gateway.state import GatewayState
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

BODY_MAX_BYTES = 8 * 1024
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 400: "bad_request", 413: "too_large"}


def create_app(settings: Settings, clock: Clock | None = None) -> FastLane:
    """The gateway's ASGI app: the bet lane in front of the FastAPI app (gateway.fast_lane)."""
    return FastLane(create_api(settings, clock), BODY_MAX_BYTES, settings.gateway_max_bets_in_flight)


def create_api(settings: Settings, clock: Clock | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.gateway = await GatewayState.start(settings, clock)
        # A restarted worker is serving from here on (an operator reading a restart, a fault campaign).
        log.info("gateway_worker_serving", pid=os.getpid())
        try:
            yield
        finally:
            await app.state.gateway.close()

    app = FastAPI(
        title="Tap Trading API",
        version=__version__,
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        # Our own Prometheus metrics measure requests; the framework's OpenTelemetry hooks would only cost
        # CPU on every request (they look for a configured provider each time).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    # Scraped from 127.0.0.1 by Prometheus; nginx refuses it from outside (deploy/nginx).
    app.router.routes.insert(0, Route("/metrics", metrics_endpoint, methods=["GET"], include_in_schema=False))
    app.router.routes.append(WebSocketRoute("/ws", public.websocket_endpoint))
    app.include_router(public.router)
    app.include_router(account.router)
    if settings.web_dir is not None and (settings.web_dir / "index.html").is_file():
        # The built web app (web/dist) at `/`, after every API route; nginx serves it in production.
        web = StaticFiles(directory=settings.web_dir, html=True)
        app.router.routes.append(WebMount("/", web, name="web"))
    openapi.install(app)
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit, max_bytes=BODY_MAX_BYTES)
    app.add_middleware(RequestMetrics)
    return app


class WebMount(Mount):
    """The web app at `/`, but never under `/api/`: there the router's own answers stand — 405 with Allow
    for a known path asked with another method, 404 for an unknown one — instead of the files' 404."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            return Match.NONE, {}
        return super().matches(scope)


async def _api_error(_request: Request, exc: ApiError) -> Response:
    return exc.response()


async def _validation_error(_request: Request, exc: RequestValidationError) -> Response:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return error_response(400, "bad_request", f"{where}: {first.get('msg', 'invalid input')}")


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    status = exc.status_code if exc.status_code < 500 else 503
    response = error_response(status, _HTTP_CODES.get(status, "bad_request"), str(exc.detail))
    if exc.headers and "Allow" in exc.headers:  # a 405 says which methods the path takes (RFC 9110)
        allowed = set(exc.headers["Allow"].split(", "))
        if request.url.path == BET_PATH:
            allowed.add("POST")  # served by the fast lane, ahead of the router that wrote the header
        response.headers["Allow"] = ", ".join(sorted(allowed))
    return response


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("request_failed", path=request.url.path, error=type(exc).__name__)
    return error_response(503, "unavailable", "temporarily unavailable; try again", 1.0)


class BodyLimit:
    """Refuses bodies over `max_bytes` with 413, by header or by counting what actually arrives."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await error_response(400, "bad_request", "bad Content-Length")(scope, receive, send)
                    return
                if int(value) > self.max_bytes:
                    await self._too_large(scope, receive, send)
                    return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await error_response(413, "too_large", f"body over {self.max_bytes} bytes")(scope, receive, send)
