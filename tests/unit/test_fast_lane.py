"""The bet lane in front of the web framework does what the framework's layers did for the other routes:
refusals in API.md's shape, the body limit, and 503 (never 500) for anything unexpected."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from taptrade.gateway.fast_lane import FastLane


def lane_client(api: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=FastLane(api, 8192)), base_url="http://t")


async def test_an_unexpected_failure_is_503_unavailable_with_retry_after() -> None:
    async with lane_client(FastAPI()) as client:  # no gateway state: the handler cannot even start
        response = await client.post("/api/bets", content=b"{}")
    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "unavailable", "message": "temporarily unavailable; try again"}
    }
    assert response.headers["retry-after"] == "1"


async def test_bodies_over_the_limit_and_bad_lengths_are_refused_before_anything_else() -> None:
    async with lane_client(FastAPI()) as client:
        too_large = await client.post("/api/bets", content=b"x" * 8193)
        bad_length = await client.post("/api/bets", content=b"{}", headers={"content-length": "2x"})
    assert (too_large.status_code, too_large.json()["error"]["code"]) == (413, "too_large")
    assert (bad_length.status_code, bad_length.json()["error"]["code"]) == (400, "bad_request")


async def test_everything_else_goes_to_the_framework() -> None:
    api = FastAPI()

    @api.get("/api/bets")
    async def listing() -> dict[str, str]:
        return {"from": "framework"}

    async with lane_client(api) as client:
        assert (await client.get("/api/bets")).json() == {"from": "framework"}
        assert (await client.put("/api/bets")).status_code == 405


async def test_beyond_its_in_flight_limit_a_worker_sheds_bets_with_503_and_retry_after() -> None:
    from prometheus_client import REGISTRY

    lane = FastLane(FastAPI(), 8192, max_in_flight=4)
    shed_before = REGISTRY.get_sample_value("bets_placed_total", {"status": "shed"}) or 0.0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lane), base_url="http://t") as client:
        await client.post("/api/bets", content=b"{}")  # fails inside (no gateway state) ...
        assert lane.in_flight == 0  # ... and is no longer counted as in flight
        lane.in_flight = 4  # four bets being handled
        response = await client.post("/api/bets", content=b"{}")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response.headers["retry-after"] == "1"
    assert (REGISTRY.get_sample_value("bets_placed_total", {"status": "shed"}) or 0.0) == shed_before + 1
