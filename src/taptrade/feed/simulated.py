"""The simulated market for demos and tests: geometric Brownian motion with BTC-like volatility (~50 %/year
by default), trades arriving as a Poisson process (~10/s), seedable so a run can be replayed exactly.
`steady=True` makes the trades arrive on the clock instead, every 1/`ticks_per_s` s: a 10 Hz price for
measuring how prices reach WebSocket clients without the random gaps and bunches of a Poisson market
(docs/benchmarks.md). The UI says "simulated" whenever this source is in use (the feed's status names its
source)."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable

from taptrade.clock import Clock, SystemClock
from taptrade.feed.events import SourceEvent, Tick

MS_PER_YEAR = 365 * 24 * 3600 * 1000


class SimulatedSource:
    name = "simulated"
    replay_offset_ms: int | None = None
    measures_skew = False

    def __init__(
        self,
        *,
        seed: int | None = None,
        start_price_cents: int = 6_000_000,
        sigma_annual: float = 0.5,
        ticks_per_s: float = 10.0,
        steady: bool = False,
        clock: Clock | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.seed = seed if seed is not None else random.randrange(2**32)
        self._start_price_cents = start_price_cents
        self._sigma_per_ms = sigma_annual / math.sqrt(MS_PER_YEAR)
        self._ticks_per_s = ticks_per_s
        self.steady = steady
        self._clock = clock or SystemClock()
        self._sleep = sleep

    async def events(self) -> AsyncIterator[SourceEvent]:
        rng = random.Random(self.seed)
        log_price = math.log(self._start_price_cents)
        last_ms = self._clock.now_ms()
        trade_id = 0
        interval_ms = 1000 / self._ticks_per_s
        next_ms = last_ms + interval_ms
        while True:
            if self.steady:
                # On a fixed schedule, not a fixed pause: a late wake-up does not push every later tick.
                await self._sleep(max(0.0, next_ms - self._clock.now_ms()) / 1000)
                next_ms += interval_ms
            else:
                await self._sleep(rng.expovariate(self._ticks_per_s))
            now_ms = self._clock.now_ms()
            dt_ms = max(0, now_ms - last_ms)
            last_ms = now_ms
            # Driftless in price: the -sigma^2/2 term cancels the drift exp() would add.
            variance = self._sigma_per_ms**2 * dt_ms
            log_price += math.sqrt(variance) * rng.gauss(0.0, 1.0) - variance / 2
            trade_id += 1
            yield Tick(price_cents=max(1, round(math.exp(log_price))), ts_ms=now_ms, received_ms=now_ms,
                       trade_id=trade_id)  # fmt: skip
