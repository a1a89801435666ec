"""The gateway's `/metrics`: requests by route template and status, latency, bet answers by outcome; and
under `taptrade gateway --workers 2` one answer that sums every worker's samples."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from taptrade.config import Settings
from tests.support import wait_for


def sample(text: str, name: str, labels: dict[str, str]) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


async def scrape(client: httpx.AsyncClient) -> str:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_requests_are_counted_by_route_template_status_and_bet_outcome(
    client: httpx.AsyncClient,
) -> None:
    grid = {"method": "GET", "route": "/api/grid", "status": "200"}
    bet_by_id = {"method": "GET", "route": "/api/bets/{bet_id}", "status": "401"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    before = await scrape(client)

    for _ in range(3):
        assert (await client.get("/api/grid")).status_code == 200
    for n in range(2):
        assert (await client.get(f"/api/bets/{n}")).status_code == 401
    assert (await client.get("/no/such/path/42")).status_code == 404
    assert (await client.post("/api/bets", content=b"{not json")).status_code == 400

    after = await scrape(client)
    counted = "http_requests_total"
    assert sample(after, counted, grid) - sample(before, counted, grid) == 3
    assert sample(after, counted, bet_by_id) - sample(before, counted, bet_by_id) == 2  # one label, two ids
    assert sample(after, counted, unmatched) - sample(before, counted, unmatched) == 1
    bet_lane = {"method": "POST", "route": "/api/bets", "status": "400"}  # counted by the bet lane
    assert sample(after, counted, bet_lane) - sample(before, counted, bet_lane) == 1
    refused = {"status": "bad_request"}
    assert sample(after, "bets_placed_total", refused) - sample(before, "bets_placed_total", refused) == 1
    timed = "http_request_duration_seconds_count"
    assert sample(after, timed, {"route": "/api/grid"}) - sample(before, timed, {"route": "/api/grid"}) == 3


@pytest.mark.slow
def test_workers_samples_are_summed_in_one_answer(settings: Settings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAPTRADE_", "PROMETHEUS_"))}
    argv = [sys.executable, "-m", "taptrade", "gateway", "--workers", "2", "--port", str(settings.port),
            "--data-dir", str(settings.data_dir), "--redis-url", str(settings.redis_url)]  # fmt: skip
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=out)
    base = f"http://127.0.0.1:{settings.port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/api/version", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 20, "gateway workers up")
        wait_for(lambda: log.read_text().count("gateway_worker_started") == 2, 20, "both workers started")
        # A new connection per request: the kernel spreads them over both workers' sockets.
        for _ in range(40):
            assert httpx.get(f"{base}/api/grid", timeout=5).status_code == 200
        labels = {"method": "GET", "route": "/api/grid", "status": "200"}
        # Whichever worker answers the scrape, it reports all 40.
        for _ in range(6):
            text = httpx.get(f"{base}/metrics", timeout=5).text
            assert sample(text, "http_requests_total", labels) == 40, log.read_text()[-2000:]
        # Both workers' live task counts (each has at least its sampler and the server's own task).
        assert sample(text, "gateway_asyncio_tasks", {}) >= 4, text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
