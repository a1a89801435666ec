"""Request and response shapes of the API (API.md), and the conversion from ledger records.

msgspec structs serve the hot path (`POST /api/bets`); pydantic models describe the other endpoints for
FastAPI's OpenAPI document. Both render the same JSON.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from taptrade.commands import BetRecord, LimitsRecord
from taptrade.grid import GridSpec, format_cell
from taptrade.limits import MAX_PAUSE_MINUTES
from taptrade.money import MAX_AMOUNT_CENTS, format_multiplier


class BetRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The signed bet (API.md). `address` only with `scheme: "eip191"`."""

    bet_id: str
    cell: str
    amount: int
    min_multiplier: str
    nonce: str
    timestamp: int
    chain_id: int
    scheme: Literal["session", "eip191"]
    signature: str
    address: str | None = None


class Bet(msgspec.Struct, frozen=True):
    bet_id: str
    cell: str
    column: int
    row: int
    lower: int
    upper: int
    start_ms: int
    end_ms: int
    amount: int
    multiplier: str
    quote_id: int
    status: Literal["confirmed", "won", "lost", "void"]
    payout: int | None
    placed_ms: int
    resolved_ms: int | None


class BetAnswer(msgspec.Struct, frozen=True):
    bet: Bet
    balance: int


class BetOnly(msgspec.Struct, frozen=True):
    bet: Bet


class BetPage(msgspec.Struct, frozen=True):
    bets: list[Bet]
    next_cursor: str | None


class ErrorBody(msgspec.Struct, frozen=True):
    code: str
    message: str


class ErrorAnswer(msgspec.Struct, frozen=True):
    error: ErrorBody


def api_bet(record: BetRecord, grid: GridSpec) -> Bet:
    return Bet(
        bet_id=record.bet_id,
        cell=format_cell(record.column, record.row),
        column=record.column,
        row=record.row,
        lower=record.lower,
        upper=record.upper,
        start_ms=grid.column_start_ms(record.column),
        end_ms=grid.column_end_ms(record.column),
        amount=record.amount,
        multiplier=format_multiplier(record.multiplier_e4),
        quote_id=record.quote_id,
        status=record.status,
        payout=record.payout,
        placed_ms=record.placed_ms,
        resolved_ms=record.resolved_ms,
    )


# --- pydantic models: the other endpoints ------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginRequest(_Model):
    message: str
    signature: str


class LoginAnswer(_Model):
    token: str
    address: str
    expires_ms: int
    balance: int


class NonceAnswer(_Model):
    nonce: str
    expires_ms: int


class PendingLimit(_Model):
    """A raise (or removal, null) of the daily loss limit asked for, taking effect at `effective_ms`."""

    daily_loss_limit: int | None
    effective_ms: int


class Limits(_Model):
    """`loss_today`: the UTC day's stakes minus payouts and refunds (negative when the day is up)."""

    daily_loss_limit: int | None
    loss_today: int
    paused_until_ms: int | None
    pending: PendingLimit | None


class LimitsRequest(_Model):
    """A field left out is left as it is; `daily_loss_limit: null` removes the limit (after 24 h)."""

    daily_loss_limit: int | None = Field(default=None, ge=0, le=MAX_AMOUNT_CENTS, strict=True)
    pause_minutes: int | None = Field(default=None, ge=1, le=MAX_PAUSE_MINUTES, strict=True)


def api_limits(record: LimitsRecord) -> Limits:
    pending = (
        None
        if record.next_from_ms is None
        else PendingLimit(daily_loss_limit=record.next_limit, effective_ms=record.next_from_ms)
    )
    return Limits(
        daily_loss_limit=record.daily_loss_limit,
        loss_today=record.loss_today,
        paused_until_ms=record.paused_until_ms,
        pending=pending,
    )


class MeAnswer(_Model):
    address: str
    balance: int
    session_expires_ms: int
    limits: Limits


class LedgerEntry(_Model):
    id: int
    kind: str
    amount: int
    balance_after: int
    ref: str | None
    created_ms: int
    meta: str | None


class LedgerPage(_Model):
    entries: list[LedgerEntry]
    next_cursor: str | None


class GridAnswer(_Model):
    column_seconds: int
    row_cents: int
    placeable_min_offset: int
    max_ahead_columns: int
    stake_presets_cents: list[int]
    chain_id: int
    currency: Literal["USD"]
    mode: Literal["demo", "production"]
    feed: str


class PriceAnswer(_Model):
    price: int
    ts_ms: int
    source: str
    status: str
    replay_offset_ms: int | None = None


class QuotesAnswer(_Model):
    type: Literal["quotes"]
    quote_id: int
    ts_ms: int
    price: int
    first_column: int
    first_row: int
    multipliers: list[list[str | None]]


class ColumnAnswer(_Model):
    column: int
    start_ms: int
    end_ms: int
    status: Literal["open", "resolved", "void"]
    open: int | None
    high: int | None
    low: int | None
    close: int | None
    ticks: int


class VersionAnswer(_Model):
    version: str
    git_commit: str
    build_time: str
    python: str


class FaucetAnswer(_Model):
    amount: int
    balance: int


class HealthAnswer(_Model):
    status: Literal["healthy", "degraded", "unhealthy"]
    checks: dict[str, dict[str, object]]
