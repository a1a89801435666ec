"""`taptrade ledger`: wires settings, live.db, Redis and the loop together, and stops on SIGTERM/SIGINT."""

from __future__ import annotations

import redis

from taptrade import bus
from taptrade.clock import Clock, SystemClock
from taptrade.config import Settings, grid_spec, redacted_url
from taptrade.ledger import db
from taptrade.ledger.checkpointer import WalCheckpointer
from taptrade.ledger.resolver import Resolver
from taptrade.ledger.rotation import Rotator
from taptrade.ledger.service import LedgerService
from taptrade.ledger.store import LedgerRules, LedgerStore
from taptrade.obs.heap import freeze_startup_heap
from taptrade.obs.logging import get_logger
from taptrade.obs.metrics import serve_metrics
from taptrade.stop_signal import StopSignal

log = get_logger(__name__)


def rules_from(settings: Settings) -> LedgerRules:
    return LedgerRules(
        grid=grid_spec(settings),
        stake_presets_cents=frozenset(settings.stake_presets_cents),
        multiplier_min_e4=settings.multiplier_min_e4,
        multiplier_max_e4=settings.multiplier_max_e4,
    )


def build_service(settings: Settings, clock: Clock | None = None) -> LedgerService:
    clock = clock or SystemClock()
    conn = db.open_writer(settings.live_db_path)
    rules = rules_from(settings)
    store = LedgerStore(conn, rules, clock)
    resolver = Resolver(conn, store, rules.grid, clock, grace_ms=settings.resolution_grace_ms)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    bus.check_redis_policy(client)
    return LedgerService(
        client,
        store,
        batch_max=settings.ledger_batch_max,
        block_ms=settings.ledger_block_ms,
        batch_interval_s=settings.ledger_batch_interval_ms / 1000,
        resolver=resolver,
        rotator=Rotator(conn, clock, settings.weeks_dir),
        checkpointer=WalCheckpointer(settings.live_db_path),
    )


def run_ledger(settings: Settings) -> None:
    service = build_service(settings)
    serve_metrics(settings.ledger_metrics_port)
    freeze_startup_heap()
    stop = StopSignal().install()
    log.info(
        "ledger_started",
        db=str(settings.live_db_path),
        redis=redacted_url(settings.resolved_redis_url()),
        batch_max=settings.ledger_batch_max,
    )
    service.run(stop)
    log.info("ledger_stopping", signal=stop.received)
    service.close()
    log.info("ledger_stopped", batches=service.batches_committed, commands=service.commands_handled)
