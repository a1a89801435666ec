"""The gateway's metrics: every HTTP answer by route and status, its latency, every bet answer by outcome,
and open WebSockets. Under `taptrade gateway` the workers write to a shared directory and whichever worker
answers `GET /metrics` sums them all (obs.metrics); in one process (tests) the default registry serves."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taptrade.obs.metrics import multiprocess_registry

HTTP_REQUESTS_TOTAL = Counter(
    "http_requests_total",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival in the worker to its answer, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5),
)
BETS_PLACED_TOTAL = Counter(
    "bets_placed_total",
    "Answers to POST /api/bets, by outcome: confirmed, duplicate, or the API error code.",
    ["status"],
)
WS_CONNECTIONS = Gauge(
    "ws_connections",
    "WebSocket connections open now.",
    multiprocess_mode="livesum",
)

ASYNCIO_TASKS = Gauge(
    "gateway_asyncio_tasks",
    "Asyncio tasks alive in the gateway workers, sampled every 5 s: a count that only grows is a leak.",
    multiprocess_mode="livesum",
)
TASKS_SAMPLE_S = 5.0


async def sample_tasks() -> None:
    """Keep ASYNCIO_TASKS current for this worker until cancelled."""
    while True:
        ASYNCIO_TASKS.set(len(asyncio.all_tasks()))
        await asyncio.sleep(TASKS_SAMPLE_S)


_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"})
UNMATCHED = "unmatched"


def route_label(scope: Scope) -> str:
    """The matched route's template (`/api/bets/{bet_id}`), so labels stay few whatever paths clients ask."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    return path or "/"  # the web app's mount at the root has an empty path


class RequestRecorder:
    """Counts and times answered HTTP requests. Labelled children are looked up once: `.labels()`
    validates and locks on every call, which the hot path should not pay."""

    def __init__(self) -> None:
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[str, Any] = {}

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = HTTP_REQUESTS_TOTAL.labels(method, route, str(status))
        counter.inc()
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = HTTP_REQUEST_DURATION_SECONDS.labels(route)
        timer.observe(seconds)


class RequestMetrics:
    """Counts and times every HTTP request that reaches the framework (WebSockets are counted by the hub;
    bets by the bet lane, with the same recorder)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._recorder = RequestRecorder()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 503  # what a client sees if the app never starts an answer (the server closes)

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            self._recorder.record(method, route_label(scope), status, time.perf_counter() - started)


async def metrics_endpoint(_request: Request) -> Response:
    registry = multiprocess_registry() or REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
