"""Every API route and dependency runs on the event loop: FastAPI sends a plain `def` to its thread pool,
and under load that hand-off cost more than the reads themselves (a mixed benchmark at 1,500 requests/s
fell to 850/s with seconds of latency while the CPU idled)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from pathlib import Path

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import BaseRoute

from taptrade.config import load_settings
from taptrade.gateway.app import create_api


def calls(dependant: Dependant) -> Iterator[tuple[str, object]]:
    if dependant.call is not None:
        yield getattr(dependant.call, "__qualname__", repr(dependant.call)), dependant.call
    for sub in dependant.dependencies:
        yield from calls(sub)


def api_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """The app's routes with included routers opened up."""
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)
        else:
            yield route


def test_no_route_or_dependency_goes_through_the_thread_pool(tmp_path: Path) -> None:
    app = create_api(load_settings(data_dir=tmp_path))
    routes = [r for r in api_routes(app.routes) if isinstance(r, APIRoute | APIWebSocketRoute)]
    assert len(routes) > 10
    sync = {
        name
        for route in routes
        for name, call in calls(route.dependant)
        if not inspect.iscoroutinefunction(call)
    }
    assert sync == set()
