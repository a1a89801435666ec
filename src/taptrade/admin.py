"""Operator money commands. They go through the ledger's intake like any bet, so the single writer
stays the only writer; `ledger_entries` reads a user's ledger through a read-only connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from taptrade.bus import BusError, IntakeClient, connect_async
from taptrade.commands import Command, EntryRecord, Reply
from taptrade.config import Settings
from taptrade.gateway.history import History


@dataclass(frozen=True)
class SubmitResult:
    reply: Reply | None
    error: str | None


async def _submit(settings: Settings, command: Command, timeout_s: float) -> SubmitResult:
    client = connect_async(
        settings.resolved_redis_url(), settings.redis_pool_size, settings.redis_timeout_ms / 1000
    )
    intake = IntakeClient(
        client,
        intake_max_len=settings.intake_max_len,
        reply_timeout_ms=settings.reply_timeout_ms,
    )
    try:
        await intake.start()
        return SubmitResult(await intake.submit(command, timeout_s=timeout_s), None)
    except BusError as exc:
        return SubmitResult(None, f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        return SubmitResult(None, f"Redis unreachable at {settings.resolved_redis_url()}: {exc}")
    finally:
        await intake.close()
        await client.aclose()


def submit(settings: Settings, command: Command, timeout_s: float = 10.0) -> SubmitResult:
    return asyncio.run(_submit(settings, command, timeout_s))


def ledger_entries(history: History, address: str, limit: int) -> list[EntryRecord]:
    account = history.account(address)
    return [] if account is None else history.ledger(account.user_id, before_id=None, limit=limit)
