"""Responsible play over HTTP: `PUT /api/me/limits`, the limits in `GET /api/me`, and bets refused with
422 `loss_limit` / `cooling_down` by the ledger, against the running gateway, ledger and Redis."""

from __future__ import annotations

import httpx
import pytest

from taptrade.bus import IntakeClient
from taptrade.config import Settings
from taptrade.limits import RAISE_DELAY_MS
from tests.gateway_support import (
    PRICE_CENTS,
    Trader,
    bet_body,
    current_column,
    error_code,
    funded_trader,
)
from tests.support import now_ms

ROW = PRICE_CENTS // 1000


@pytest.fixture
async def trader(client: httpx.AsyncClient, settings: Settings, intake: IntakeClient) -> Trader:
    return await funded_trader(client, settings, intake, 100_000)


async def put_limits(client: httpx.AsyncClient, trader: Trader, body: object) -> httpx.Response:
    return await client.put("/api/me/limits", json=body, headers=trader.headers())


async def bet(
    client: httpx.AsyncClient, settings: Settings, trader: Trader, row: int, amount: int
) -> httpx.Response:
    body = bet_body(trader, settings, column=current_column() + 4, row=row, amount=amount)
    return await client.post("/api/bets", json=body, headers=trader.headers())


async def test_a_loss_limit_refuses_the_stake_that_would_cross_it(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    answer = await put_limits(client, trader, {"daily_loss_limit": 3000})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "daily_loss_limit": 3000,
        "loss_today": 0,
        "paused_until_ms": None,
        "pending": None,
    }

    assert (await bet(client, settings, trader, ROW, 2500)).status_code == 201
    refused = await bet(client, settings, trader, ROW + 1, 1000)
    assert error_code(refused) == (422, "loss_limit")
    assert (await bet(client, settings, trader, ROW + 2, 500)).status_code == 201

    me = (await client.get("/api/me", headers=trader.headers())).json()
    assert me["balance"] == 100_000 - 3000
    assert me["limits"] == {
        "daily_loss_limit": 3000,
        "loss_today": 3000,
        "paused_until_ms": None,
        "pending": None,
    }


async def test_a_raise_is_pending_for_24_hours_and_shown(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    await put_limits(client, trader, {"daily_loss_limit": 1000})
    before = now_ms()
    answer = (await put_limits(client, trader, {"daily_loss_limit": None})).json()
    assert answer["daily_loss_limit"] == 1000
    assert answer["pending"]["daily_loss_limit"] is None
    assert before + RAISE_DELAY_MS <= answer["pending"]["effective_ms"] <= now_ms() + RAISE_DELAY_MS
    assert error_code(await bet(client, settings, trader, ROW, 2500)) == (422, "loss_limit")


async def test_a_pause_refuses_bets_and_cannot_be_shortened(
    client: httpx.AsyncClient, settings: Settings, trader: Trader
) -> None:
    answer = (await put_limits(client, trader, {"pause_minutes": 60})).json()
    until = answer["paused_until_ms"]
    assert now_ms() + 59 * 60_000 < until <= now_ms() + 60 * 60_000
    assert answer["daily_loss_limit"] is None  # left out, left as it was
    assert error_code(await bet(client, settings, trader, ROW, 100)) == (422, "cooling_down")
    shorter = (await put_limits(client, trader, {"pause_minutes": 1})).json()
    assert shorter["paused_until_ms"] == until


@pytest.mark.parametrize(
    "body",
    [
        {"daily_loss_limit": -1},
        {"daily_loss_limit": "1000"},
        {"daily_loss_limit": True},
        {"daily_loss_limit": 10**17},
        {"pause_minutes": 0},
        {"pause_minutes": 10**9},
        {"pause_minutes": 1.5},
        {"daily_loss_limit": 100, "extra": 1},
        [],
    ],
)
async def test_bad_limits_are_400_and_change_nothing(
    client: httpx.AsyncClient, trader: Trader, body: object
) -> None:
    await put_limits(client, trader, {"daily_loss_limit": 5000})
    response = await put_limits(client, trader, body)
    assert error_code(response) == (400, "bad_request")
    me = (await client.get("/api/me", headers=trader.headers())).json()
    assert me["limits"]["daily_loss_limit"] == 5000
    assert me["limits"]["paused_until_ms"] is None


async def test_limits_need_a_session(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/me/limits", json={"daily_loss_limit": 100})
    assert error_code(response) == (401, "no_session")
