"""Reads: history (owner only, paginated), ledger, public endpoints, the faucet, the OpenAPI document."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from taptrade.bus import IntakeClient
from taptrade.config import Settings
from tests.gateway_support import (
    PRICE_CENTS,
    GatewayThread,
    Trader,
    bet_body,
    current_column,
    error_code,
    fresh_market,
    funded_trader,
    sign_in,
)
from tests.support import SCHEMA_CHECKS, LedgerThread, make_settings

ROW = PRICE_CENTS // 1000


async def test_history_lists_only_my_bets_newest_window_first_in_pages(
    client: httpx.AsyncClient, settings: Settings, intake: IntakeClient
) -> None:
    me, other = (
        await funded_trader(client, settings, intake, 10_000),
        await funded_trader(client, settings, intake, 10_000),
    )
    column = current_column() + 3
    for n in range(5):
        body = bet_body(me, settings, column=column + n % 2, row=ROW + n, amount=100)
        assert (await client.post("/api/bets", json=body, headers=me.headers())).status_code == 201
    theirs = bet_body(other, settings, column=column, row=ROW, amount=100)
    assert (await client.post("/api/bets", json=theirs, headers=other.headers())).status_code == 201

    first = (await client.get("/api/bets", params={"limit": 3}, headers=me.headers())).json()
    second = (
        await client.get(
            "/api/bets", params={"limit": 3, "cursor": first["next_cursor"]}, headers=me.headers()
        )
    ).json()
    cells = [b["cell"] for b in first["bets"] + second["bets"]]
    assert len(cells) == 5
    assert second["next_cursor"] is None
    assert cells == sorted(cells, key=lambda c: tuple(int(x) for x in c.split(":")), reverse=True)
    assert f"{column}:{ROW}" in cells  # mine, not theirs: theirs is the same cell, not listed twice
    assert cells.count(f"{column}:{ROW}") == 1

    other_bet = theirs["bet_id"]
    assert error_code(await client.get(f"/api/bets/{other_bet}", headers=me.headers())) == (404, "not_found")
    mine = await client.get(f"/api/bets/{first['bets'][0]['bet_id']}", headers=me.headers())
    assert mine.status_code == 200
    assert mine.json()["bet"]["status"] == "confirmed"


async def test_history_filters_by_status_and_window(
    client: httpx.AsyncClient, settings: Settings, intake: IntakeClient
) -> None:
    me = await funded_trader(client, settings, intake, 10_000)
    column = current_column() + 3
    for n in range(2):
        body = bet_body(me, settings, column=column + n, row=ROW, amount=100)
        assert (await client.post("/api/bets", json=body, headers=me.headers())).status_code == 201
    later = await client.get("/api/bets", params={"from_ms": (column + 1) * 5000}, headers=me.headers())
    assert [b["column"] for b in later.json()["bets"]] == [column + 1]
    earlier = await client.get("/api/bets", params={"to_ms": (column + 1) * 5000}, headers=me.headers())
    assert [b["column"] for b in earlier.json()["bets"]] == [column]
    won = await client.get("/api/bets", params={"status": "won"}, headers=me.headers())
    assert won.json() == {"bets": [], "next_cursor": None}
    bad = await client.get("/api/bets", params={"status": "cheated"}, headers=me.headers())
    assert error_code(bad) == (400, "bad_request")
    assert error_code(await client.get("/api/bets", params={"cursor": "x"}, headers=me.headers())) == (
        400,
        "bad_request",
    )


async def test_unknown_bet_id_is_404(
    client: httpx.AsyncClient, settings: Settings, intake: IntakeClient
) -> None:
    me = await funded_trader(client, settings, intake, 100)
    assert error_code(await client.get(f"/api/bets/{uuid.uuid4()}", headers=me.headers())) == (
        404,
        "not_found",
    )
    assert error_code(await client.get("/api/bets/not-a-uuid", headers=me.headers())) == (404, "not_found")


async def test_ledger_shows_where_the_money_went(
    client: httpx.AsyncClient, settings: Settings, intake: IntakeClient
) -> None:
    me = await funded_trader(client, settings, intake, 1000)
    body = bet_body(me, settings, column=current_column() + 3, row=ROW, amount=500)
    assert (await client.post("/api/bets", json=body, headers=me.headers())).status_code == 201
    page = (await client.get("/api/ledger", params={"limit": 1}, headers=me.headers())).json()
    assert [(e["kind"], e["amount"], e["balance_after"], e["ref"]) for e in page["entries"]] == [
        ("BET", -500, 500, body["bet_id"])
    ]
    rest = (
        await client.get("/api/ledger", params={"cursor": page["next_cursor"]}, headers=me.headers())
    ).json()
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in rest["entries"]] == [
        ("DEPOSIT", 1000, 1000)
    ]
    assert rest["next_cursor"] is None


async def test_public_endpoints(client: httpx.AsyncClient, settings: Settings) -> None:
    grid = (await client.get("/api/grid")).json()
    assert grid == {
        "column_seconds": 5,
        "row_cents": 1000,
        "placeable_min_offset": 2,
        "max_ahead_columns": 30,
        "stake_presets_cents": [100, 500, 1000, 2500, 5000, 10000],
        "chain_id": settings.chain_id,
        "currency": "USD",
        "mode": "demo",
        "feed": "simulated",
    }
    price = (await client.get("/api/price")).json()
    assert (price["price"], price["source"], price["status"]) == (PRICE_CENTS, "simulated", "healthy")
    quotes = (await client.get("/api/quotes")).json()
    assert quotes["type"] == "quotes"
    assert quotes["multipliers"][3][10] == "2.5000"
    column = (await client.get("/api/columns/123")).json()
    assert column == {"column": 123, "start_ms": 615000, "end_ms": 620000, "status": "open",
                      "open": None, "high": None, "low": None, "close": None, "ticks": 0}  # fmt: skip
    assert error_code(await client.get("/api/columns/-1")) == (400, "bad_request")
    version = (await client.get("/api/version")).json()
    assert set(version) == {"version", "git_commit", "build_time", "python"}
    health = await client.get("/api/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    assert health.json()["checks"]["circuit_breaker"] == {"state": "closed", "mode": "auto"}


async def test_unknown_paths_and_methods_answer_in_the_contracts_shape(client: httpx.AsyncClient) -> None:
    assert error_code(await client.get("/api/nothing")) == (404, "not_found")
    refused = await client.delete("/api/grid")
    assert error_code(refused) == (405, "method_not_allowed")
    assert refused.headers["Allow"] == "GET"  # RFC 9110: a 405 says which methods the path takes
    assert (await client.request("TRACE", "/api/bets")).headers["Allow"] == "GET, POST"


async def test_faucet_credits_once_per_ten_minutes(client: httpx.AsyncClient, settings: Settings) -> None:
    me = Trader()
    await sign_in(client, settings, me)
    first = await client.post("/api/demo/faucet", headers=me.headers())
    assert first.status_code == 200, first.text
    assert first.json() == {"amount": settings.demo_faucet_cents, "balance": settings.demo_faucet_cents}
    second = await client.post("/api/demo/faucet", headers=me.headers())
    assert error_code(second) == (429, "rate_limited")
    assert int(second.headers["Retry-After"]) > 500
    assert error_code(await client.post("/api/demo/faucet")) == (401, "no_session")


async def test_no_faucet_in_production(tmp_path, redis_url: str) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path / "data", redis_url, mode="production")
    with LedgerThread(settings), GatewayThread(settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            me = Trader()
            await sign_in(client, settings, me)
            assert error_code(await client.post("/api/demo/faucet", headers=me.headers())) == (
                404,
                "not_found",
            )


async def test_openapi_document_covers_the_contract(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/api/openapi.json")).json()
    paths = doc["paths"]
    contract = ["/api/healthz", "/api/version", "/api/grid", "/api/price", "/api/quotes",
                "/api/columns/{column}", "/api/auth/nonce", "/api/auth/login", "/api/auth/logout", "/api/me",
                "/api/bets", "/api/bets/{bet_id}", "/api/ledger", "/api/demo/faucet"]  # fmt: skip
    assert [path for path in contract if path not in paths] == []
    place = paths["/api/bets"]["post"]
    assert place["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BetRequest"
    }
    assert {"201", "401", "409", "422", "429", "503", "504"} <= set(place["responses"])
    assert "BetRequest" in doc["components"]["schemas"]


@pytest.mark.slow
def test_fuzzing_the_openapi_document_finds_no_breach_of_the_contract(
    gateway: GatewayThread, tmp_path: Path
) -> None:
    import shutil
    import subprocess
    import sys

    cli = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert cli is not None
    result = subprocess.run(
        [cli, "run", f"{gateway.url}/api/openapi.json", "--checks", ",".join(SCHEMA_CHECKS),
         "--max-examples", "30", "--seed", "1", "--no-color"],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_bot_example_places_a_bet_with_only_a_private_key(
    gateway: GatewayThread, settings: Settings
) -> None:
    import subprocess
    import sys

    from eth_account import Account

    from tests.support import REPO

    key = "0x" + Account.create().key.hex().removeprefix("0x")
    bot = [sys.executable, str(REPO / "examples" / "bot.py"), "--url", gateway.url, "--key", key, "--faucet"]
    with fresh_market(settings.resolved_redis_url()):  # the bot's start-up can outlast a quote table
        result = subprocess.run(bot, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "faucet: 200" in result.stdout
    assert '"status":"confirmed"' in result.stdout


async def test_price_shows_the_replay_offset_on_a_replayed_feed(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    import asyncio

    import msgspec
    import redis

    from taptrade import bus
    from taptrade.market import PriceTick

    tick = msgspec.json.encode(PriceTick(price=PRICE_CENTS, ts_ms=1, source="replay", replay_offset_ms=5_000))
    redis.Redis.from_url(settings.resolved_redis_url()).publish(bus.PRICE_CHANNEL, tick)
    await asyncio.sleep(0.2)
    answer = (await client.get("/api/price")).json()
    assert (answer["source"], answer["replay_offset_ms"]) == ("replay", 5_000)


async def test_the_built_web_app_is_served_at_the_root_and_the_api_keeps_its_errors(
    tmp_path: Path, redis_url: str
) -> None:
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>Tap Trading</title>")
    (web / "app.js").write_text("console.log('tap')")
    settings = make_settings(tmp_path / "data", redis_url, web_dir=web)
    with LedgerThread(settings), GatewayThread(settings) as gateway:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as client:
            root = await client.get("/")
            assert root.status_code == 200
            assert "<title>Tap Trading</title>" in root.text
            assert (await client.get("/app.js")).text == "console.log('tap')"
            assert (await client.get("/api/healthz")).headers["content-type"] == "application/json"
            missing_api = await client.get("/api/nothing-here")
            assert error_code(missing_api) == (404, "not_found")
            assert error_code(await client.get("/nothing-here.js")) == (404, "not_found")
            # The web app at / does not shadow the API's own answers: a known path's other method is 405.
            wrong_method = await client.get("/api/auth/login")
            assert error_code(wrong_method) == (405, "method_not_allowed")
            assert wrong_method.headers["Allow"] == "POST"
