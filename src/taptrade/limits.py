"""Responsible play (API.md `PUT /api/me/limits`): a trader's daily net-loss limit and pause, as pure rules.

- A day is a UTC calendar day. The day's loss is the net of betting money moved that day: stakes placed
  minus payouts and refunds received (deposits, withdrawals and adjustments do not count). A stake counts
  when it is placed, so the limit holds even while bets are unresolved.
- A bet is refused (`loss_limit`) when its stake would take the day's loss above the limit.
- Setting a limit where there was none, or lowering it, takes effect at once and cancels a pending raise. A
  raise, or removing the limit, takes effect 24 hours after it is asked for; the lower limit holds until then.
- A pause refuses every bet (`cooling_down`) until it ends. It can be extended, never shortened.

The ledger keeps this state on the user's row and enforces it in the same transaction as the bet.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from taptrade.clock import DAY_MS, utc_day
from taptrade.commands import LimitsRecord
from taptrade.money import MAX_AMOUNT_CENTS

RAISE_DELAY_MS = DAY_MS
MAX_PAUSE_MINUTES = 30 * 24 * 60
MAX_LIMIT_CENTS = MAX_AMOUNT_CENTS


class LimitsError(ValueError):
    """A change the rules cannot take (out of range)."""


@dataclass(frozen=True, slots=True)
class LimitState:
    """What the ledger stores per user. `loss` is the net loss of day `loss_day` (negative when winning)."""

    limit: int | None = None
    next_limit: int | None = None
    next_from_ms: int | None = None
    paused_until_ms: int | None = None
    loss_day: int = 0
    loss: int = 0

    def settled(self, now_ms: int) -> LimitState:
        """With a pending raise that has come due made the limit."""
        if self.next_from_ms is not None and self.next_from_ms <= now_ms:
            return replace(self, limit=self.next_limit, next_limit=None, next_from_ms=None)
        return self

    def limit_at(self, now_ms: int) -> int | None:
        return self.settled(now_ms).limit

    def loss_on(self, day: int) -> int:
        return self.loss if self.loss_day == day else 0

    def paused_at(self, now_ms: int) -> bool:
        return self.paused_until_ms is not None and now_ms < self.paused_until_ms

    def record(self, now_ms: int) -> LimitsRecord:
        """The limits as they hold at `now_ms`, as the ledger and the API report them."""
        settled = self.settled(now_ms)
        return LimitsRecord(
            daily_loss_limit=settled.limit,
            loss_today=settled.loss_on(utc_day(now_ms)),
            paused_until_ms=settled.paused_until_ms if settled.paused_at(now_ms) else None,
            next_limit=settled.next_limit,
            next_from_ms=settled.next_from_ms,
        )

    def with_change(
        self, now_ms: int, *, set_limit: bool, limit: int | None, pause_minutes: int | None
    ) -> LimitState:
        """The state after a trader's request; raises LimitsError on values out of range."""
        if limit is not None and not 0 <= limit <= MAX_LIMIT_CENTS:
            raise LimitsError(f"daily_loss_limit must be 0..{MAX_LIMIT_CENTS} cents or null")
        if pause_minutes is not None and not 1 <= pause_minutes <= MAX_PAUSE_MINUTES:
            raise LimitsError(f"pause_minutes must be 1..{MAX_PAUSE_MINUTES} or null")
        state = self.settled(now_ms)
        if set_limit:
            state = state._with_limit(now_ms, limit)
        if pause_minutes is not None:
            until = now_ms + pause_minutes * 60_000
            if state.paused_until_ms is None or until > state.paused_until_ms:
                state = replace(state, paused_until_ms=until)
        return state

    def _with_limit(self, now_ms: int, limit: int | None) -> LimitState:
        current = self.limit
        if limit == current:
            return self  # asking again for what holds leaves a pending raise as it was
        lowering = limit is not None and (current is None or limit < current)
        if lowering:
            return replace(self, limit=limit, next_limit=None, next_from_ms=None)
        if self.next_from_ms is not None and self.next_limit == limit:
            return self  # the same raise again does not restart its wait
        return replace(self, next_limit=limit, next_from_ms=now_ms + RAISE_DELAY_MS)

    def refusal(self, now_ms: int, stake: int) -> str | None:
        """Why a bet of `stake` cents placed now is refused: 'cooling_down', 'loss_limit', or None."""
        if self.paused_at(now_ms):
            return "cooling_down"
        limit = self.limit_at(now_ms)
        if limit is not None and self.loss_on(utc_day(now_ms)) + stake > limit:
            return "loss_limit"
        return None
