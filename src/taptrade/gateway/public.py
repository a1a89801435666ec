"""Public endpoints: health, version, grid, price, quotes, columns (API.md "Public")."""

from __future__ import annotations

import platform
from typing import Annotated, Any

from fastapi import APIRouter, Path
from starlette.responses import Response
from starlette.websockets import WebSocket

from taptrade import __version__
from taptrade.gateway.account import State, json_response
from taptrade.gateway.errors import feed_stale
from taptrade.gateway.schemas import (
    ColumnAnswer,
    GridAnswer,
    HealthAnswer,
    PriceAnswer,
    QuotesAnswer,
    VersionAnswer,
)
from taptrade.gateway.state import GatewayState
from taptrade.gateway.ws import quotes_message
from taptrade.obs.build import build_info

router = APIRouter(prefix="/api")


@router.get("/healthz", response_model=HealthAnswer, responses={503: {"model": HealthAnswer}})
async def healthz(state: State) -> Response:
    checks: dict[str, dict[str, Any]] = {}
    try:
        state.history.ping()
        checks["database"] = {"ok": True}
    except Exception as exc:  # any failure to read is "unhealthy", reported, never raised
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    try:
        await state.redis.ping()
        checks["redis"] = {"ok": True}
    except Exception as exc:
        checks["redis"] = {"ok": False, "error": type(exc).__name__}
    now_ms = state.clock.now_ms()
    market = state.market
    feed = "critical" if market.status is None else market.status.price_feed
    open_ = market.betting_open(now_ms)
    checks["price_feed"] = {
        "status": feed if open_ or feed == "critical" else "critical",
        "last_tick_ms": None if market.price is None else market.price.ts_ms,
        "stale_for_ms": market.stale_for_ms(now_ms),
    }
    mode = "auto" if market.status is None else market.status.mode
    checks["circuit_breaker"] = {"state": "closed" if open_ else "open", "mode": mode}
    if not (checks["database"]["ok"] and checks["redis"]["ok"]):
        status = "unhealthy"
    elif open_ and feed == "healthy":
        status = "healthy"
    else:
        status = "degraded"
    return json_response({"status": status, "checks": checks}, 503 if status == "unhealthy" else 200)


@router.get("/version", response_model=VersionAnswer)
async def version() -> Response:
    info = build_info()
    return json_response(
        {
            "version": __version__,
            "git_commit": info.git_commit,
            "build_time": info.build_time,
            "python": platform.python_version(),
        }
    )


def grid_answer(state: GatewayState) -> dict[str, Any]:
    s = state.settings
    source = s.feed if state.market.status is None else state.market.status.source
    return {
        "column_seconds": s.column_seconds,
        "row_cents": s.row_cents,
        "placeable_min_offset": s.placeable_min_offset,
        "max_ahead_columns": s.max_ahead_columns,
        "stake_presets_cents": list(s.stake_presets_cents),
        "chain_id": s.chain_id,
        "currency": "USD",
        "mode": s.mode,
        "feed": source.split(":", 1)[0],
    }


@router.get("/grid", response_model=GridAnswer)
async def grid(state: State) -> Response:
    return json_response(grid_answer(state))


@router.get("/price", response_model=PriceAnswer, responses={503: {}})
async def price(state: State) -> Response:
    tick, status = state.market.price, state.market.status
    if tick is None:
        raise feed_stale()
    answer: dict[str, Any] = {
        "price": tick.price,
        "ts_ms": tick.ts_ms,
        "source": tick.source,
        "status": "critical" if status is None else status.price_feed,
    }
    if tick.replay_offset_ms is not None:
        answer["replay_offset_ms"] = tick.replay_offset_ms
    return json_response(answer)


@router.get("/quotes", response_model=QuotesAnswer, responses={503: {}})
async def quotes(state: State) -> Response:
    if state.market.quotes is None:
        raise feed_stale()
    return json_response(quotes_message(state.market.quotes))


@router.get("/columns/{column}", response_model=ColumnAnswer, responses={400: {}})
async def column(state: State, column: Annotated[int, Path(ge=0, le=10**12)]) -> Response:
    grid = state.grid
    try:
        stored = state.history.column(column)
    except FileNotFoundError:
        stored = None
    status, open_, high, low, close, ticks = stored or ("open", None, None, None, None, 0)
    return json_response(
        {
            "column": column,
            "start_ms": grid.column_start_ms(column),
            "end_ms": grid.column_end_ms(column),
            "status": status,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "ticks": ticks,
        }
    )


async def websocket_endpoint(websocket: WebSocket) -> None:
    state: GatewayState = websocket.app.state.gateway
    await state.hub.serve(websocket, grid_answer(state))
