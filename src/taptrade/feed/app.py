"""`taptrade feed --source binance|coinbase|simulated[:steady]|replay:PATH[@SPEED]`: pick the source, run
the loop until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from taptrade.bus import connect_async
from taptrade.clock import SystemClock
from taptrade.config import Settings
from taptrade.feed.replay import ReplaySource
from taptrade.feed.service import FeedService, Source
from taptrade.feed.simulated import SimulatedSource
from taptrade.obs.heap import freeze_startup_heap
from taptrade.obs.logging import get_logger
from taptrade.obs.metrics import serve_metrics

log = get_logger(__name__)

SOURCES = ("binance", "coinbase", "simulated", "simulated:steady", "replay:PATH[@SPEED]")


def make_source(spec: str, settings: Settings) -> Source:
    """Raises ValueError with a message naming the accepted forms."""
    if spec in ("simulated", "simulated:steady"):
        return SimulatedSource(seed=settings.feed_seed, steady=spec == "simulated:steady")
    if spec.startswith("replay:"):
        path_text, _, speed_text = spec.removeprefix("replay:").partition("@")
        path = Path(path_text)
        if not path.is_file():
            raise ValueError(f"no recording at {path}")
        try:
            speed = float(speed_text) if speed_text else 1.0
        except ValueError:
            raise ValueError(f"replay speed must be a number: {speed_text!r}") from None
        return ReplaySource(path, speed=speed, column_ms=settings.column_seconds * 1000)
    if spec == "binance":
        from taptrade.feed.exchanges.binance import BinanceSource

        return BinanceSource()
    if spec == "coinbase":
        from taptrade.feed.exchanges.coinbase import CoinbaseSource

        return CoinbaseSource()
    raise ValueError(f"unknown feed source {spec!r}; use one of {', '.join(SOURCES)}")


async def _run(settings: Settings, source: Source) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    serve_metrics(settings.feed_metrics_port)
    redis = connect_async(settings.resolved_redis_url(), 8, settings.redis_timeout_ms / 1000)
    try:
        service = FeedService(settings, source, redis, SystemClock())
        freeze_startup_heap()
        log.info("feed_started", source=source.name, seed=getattr(source, "seed", None))
        await service.run(stop)
        log.info("feed_stopped", ticks=service.ticks, bars=service.bars_published)
    finally:
        await redis.aclose()


def run_feed(settings: Settings, spec: str) -> None:
    asyncio.run(_run(settings, make_source(spec, settings)))
