"""The ledger's intake protocol: the commands anyone may submit to the single writer, and what it answers.

Commands travel as JSON in one field of an intake stream entry (see `bus`), wrapped in an `Envelope`
that names the reply channel. The ledger answers each command with one `Reply` on that channel (replies
of one batch travel together as a JSON list) and publishes `UserEvent`s for the owners' WebSockets.
Decoding is strict: unknown fields, missing fields and wrong types are malformed commands.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

import msgspec


class Code(StrEnum):
    """Result codes of the ledger, a subset of API.md's error codes plus `ok`."""

    OK = "ok"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CELL_TAKEN = "cell_taken"
    BET_ID_CONFLICT = "bet_id_conflict"
    COMMAND_ID_CONFLICT = "command_id_conflict"
    CELL_NOT_PLACEABLE = "cell_not_placeable"
    BAD_STAKE = "bad_stake"
    LOSS_LIMIT = "loss_limit"
    COOLING_DOWN = "cooling_down"
    BAD_COMMAND = "bad_command"
    STORAGE_UNAVAILABLE = "storage_unavailable"  # not applied: the ledger's disk refuses writes (full)
    INTERNAL_ERROR = "internal_error"


class PlaceBet(msgspec.Struct, tag="place_bet", forbid_unknown_fields=True, frozen=True):
    bet_id: str
    address: str
    column: int
    row: int
    amount: int
    multiplier_e4: int
    quote_id: int
    placed_ms: int


class Deposit(msgspec.Struct, tag="deposit", forbid_unknown_fields=True, frozen=True):
    command_id: str
    address: str
    amount: int
    reason: str | None = None


class Withdraw(msgspec.Struct, tag="withdraw", forbid_unknown_fields=True, frozen=True):
    command_id: str
    address: str
    amount: int
    reason: str | None = None


class Adjust(msgspec.Struct, tag="adjust", forbid_unknown_fields=True, frozen=True):
    """An operator's correction, positive or negative; the reason is mandatory."""

    command_id: str
    address: str
    amount: int
    reason: str


class SetLimits(msgspec.Struct, tag="set_limits", forbid_unknown_fields=True, frozen=True):
    """A trader's responsible-play request (taptrade.limits); `set_limit` says whether `daily_loss_limit`
    is part of it (null then means no limit)."""

    address: str
    set_limit: bool
    daily_loss_limit: int | None
    pause_minutes: int | None


Command = PlaceBet | Deposit | Withdraw | Adjust | SetLimits
MoneyCommand = Deposit | Withdraw | Adjust


class Envelope(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    request_id: str
    reply_to: str | None
    command: Command


class LooseEnvelope(msgspec.Struct, frozen=True):
    """What can still be read from a malformed entry, to tell its sender why it was rejected."""

    request_id: str | None = None
    reply_to: str | None = None


class BetRecord(msgspec.Struct, frozen=True):
    bet_id: str
    address: str
    column: int
    row: int
    lower: int
    upper: int
    amount: int
    multiplier_e4: int
    quote_id: int
    status: Literal["confirmed", "won", "lost", "void"]
    payout: int | None
    placed_ms: int
    resolved_ms: int | None


class EntryRecord(msgspec.Struct, frozen=True):
    """One ledger row: a single balance change."""

    id: int
    kind: str
    amount: int
    balance_after: int
    ref: str | None
    created_ms: int
    meta: str | None


class LimitsRecord(msgspec.Struct, frozen=True):
    """A user's limits as they hold now: `loss_today` is the UTC day's net loss (negative when winning);
    `next_limit` takes effect at `next_from_ms` when that is set."""

    daily_loss_limit: int | None
    loss_today: int
    paused_until_ms: int | None
    next_limit: int | None
    next_from_ms: int | None


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    request_id: str
    code: str
    message: str = ""
    balance: int | None = None
    bet: BetRecord | None = None
    entry: EntryRecord | None = None
    limits: LimitsRecord | None = None
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.code == Code.OK


class UserEvent(msgspec.Struct, frozen=True, omit_defaults=True):
    """A change a user's WebSocket should see; `seq` increases by 1 per user, persisted by the ledger."""

    address: str
    seq: int
    type: Literal["bet", "balance"]
    bet: BetRecord | None = None
    balance: int | None = None


_envelope_decoder = msgspec.json.Decoder(Envelope)
_loose_decoder = msgspec.json.Decoder(LooseEnvelope)
_replies_decoder = msgspec.json.Decoder(list[Reply])
_events_decoder = msgspec.json.Decoder(list[UserEvent])
_encoder = msgspec.json.Encoder()


def encode(value: object) -> bytes:
    return _encoder.encode(value)


def decode_envelope(data: bytes) -> Envelope:
    """Raises msgspec.DecodeError (a ValueError) on anything malformed."""
    return _envelope_decoder.decode(data)


def decode_loose_envelope(data: bytes) -> LooseEnvelope | None:
    try:
        return _loose_decoder.decode(data)
    except msgspec.DecodeError:
        return None


def decode_replies(data: bytes) -> list[Reply]:
    return _replies_decoder.decode(data)


def decode_events(data: bytes) -> list[UserEvent]:
    return _events_decoder.decode(data)
