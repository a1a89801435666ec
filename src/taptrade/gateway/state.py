"""One gateway worker's state: settings, Redis clients, the intake client, the market view, sessions
and the read-only history connection. Built at startup, closed at shutdown."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from taptrade.bus import IntakeClient, connect_async
from taptrade.clock import Clock, SystemClock
from taptrade.config import Settings, grid_spec
from taptrade.gateway.history import History
from taptrade.gateway.market_view import MarketView
from taptrade.gateway.metrics import sample_tasks
from taptrade.gateway.sessions import Sessions
from taptrade.gateway.ws import Hub
from taptrade.grid import GridSpec


@dataclass
class GatewayState:
    settings: Settings
    redis: aioredis.Redis
    intake: IntakeClient
    market: MarketView
    sessions: Sessions
    history: History
    clock: Clock
    hub: Hub = field(init=False)
    _sampler: asyncio.Task[None] | None = field(init=False, default=None)
    grid: GridSpec = field(init=False)
    stake_presets: frozenset[int] = field(init=False)

    def __post_init__(self) -> None:
        self.grid = grid_spec(self.settings)
        self.hub = Hub(self.redis, self.sessions, self.grid, self.market, self.clock)
        self.stake_presets = frozenset(self.settings.stake_presets_cents)

    @classmethod
    async def start(cls, settings: Settings, clock: Clock | None = None) -> GatewayState:
        redis = connect_async(
            settings.resolved_redis_url(), settings.redis_pool_size, settings.redis_timeout_ms / 1000
        )
        intake = IntakeClient(
            redis, intake_max_len=settings.intake_max_len, reply_timeout_ms=settings.reply_timeout_ms
        )
        await intake.start()
        market = MarketView(
            redis, stale_after_ms=settings.feed_stale_after_ms, quote_max_age_ms=settings.quote_max_age_ms
        )
        await market.start()
        state = cls(
            settings=settings,
            redis=redis,
            intake=intake,
            market=market,
            sessions=Sessions(redis),
            history=History(settings.live_db_path, settings.weeks_dir),
            clock=clock or SystemClock(),
        )
        await state.hub.start()
        state._sampler = asyncio.create_task(sample_tasks())
        return state

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
        await self.hub.close()
        await self.market.close()
        await self.intake.close()
        self.sessions.close()
        await self.redis.aclose()


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 200:
        return None
    return token
