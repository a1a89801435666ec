"""Feed health and the circuit breaker (DESIGN §5), on an injected clock.

Health by the age of the last fresh tick: < 3 s HEALTHY, 3-10 s DEGRADED (warning, betting open), > 10 s
CRITICAL (betting suspended). Worsening is immediate; recovery has hysteresis: back to HEALTHY only after
30 s of continuous fresh ticks (no gap over 3 s), and until then the worse state holds. A clock skew
between exchange and receiver over 1 s counts as DEGRADED. An operator can force the breaker open
(betting suspended) or closed (betting open) whatever the health says, or hand it back to `auto`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"


class Mode(StrEnum):
    AUTO = "auto"
    FORCED_OPEN = "forced_open"  # betting suspended
    FORCED_CLOSED = "forced_closed"  # betting open


_RANK = {Health.HEALTHY: 0, Health.DEGRADED: 1, Health.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class BreakerState:
    health: Health
    betting_open: bool
    mode: Mode
    since_ms: int  # when health, betting or mode last changed


class Breaker:
    def __init__(
        self,
        now_ms: int,
        *,
        degraded_after_ms: int = 3_000,
        critical_after_ms: int = 10_000,
        recovery_ms: int = 30_000,
        max_skew_ms: int = 1_000,
    ) -> None:
        self._degraded_after_ms = degraded_after_ms
        self._critical_after_ms = critical_after_ms
        self._recovery_ms = recovery_ms
        self._max_skew_ms = max_skew_ms
        self._last_tick_ms: int | None = None
        self._fresh_since_ms: int | None = None
        self._skew_ms = 0
        self.mode = Mode.AUTO
        # A feed that has heard nothing yet is as good as a silent one.
        self._state = BreakerState(Health.CRITICAL, False, Mode.AUTO, now_ms)

    @property
    def state(self) -> BreakerState:
        return self._state

    @property
    def last_tick_ms(self) -> int | None:
        return self._last_tick_ms

    def on_tick(self, now_ms: int, skew_ms: int = 0) -> None:
        """A fresh tick arrived at `now_ms` (local clock); `skew_ms` is receive time minus exchange time."""
        # First the silence that this tick ends: nobody may have looked during it.
        self.evaluate(now_ms)
        if self._last_tick_ms is None or now_ms - self._last_tick_ms > self._degraded_after_ms:
            self._fresh_since_ms = now_ms  # a new run of continuous fresh ticks starts here
        self._last_tick_ms = now_ms
        self._skew_ms = skew_ms

    def set_mode(self, mode: Mode, now_ms: int) -> BreakerState:
        self.mode = mode
        return self.evaluate(now_ms)

    def evaluate(self, now_ms: int) -> BreakerState:
        """The state at `now_ms`; `since_ms` moves only when something changed."""
        health = self._health(now_ms)
        betting = {Mode.FORCED_OPEN: False, Mode.FORCED_CLOSED: True}.get(
            self.mode, health is not Health.CRITICAL
        )
        old = self._state
        if (health, betting, self.mode) != (old.health, old.betting_open, old.mode):
            self._state = BreakerState(health, betting, self.mode, now_ms)
        return self._state

    def _health(self, now_ms: int) -> Health:
        if self._last_tick_ms is None:
            return Health.CRITICAL
        gap = now_ms - self._last_tick_ms
        if gap > self._critical_after_ms:
            raw = Health.CRITICAL
        elif gap > self._degraded_after_ms or abs(self._skew_ms) > self._max_skew_ms:
            raw = Health.DEGRADED
        else:
            raw = Health.HEALTHY
        current = self._state.health
        if _RANK[raw] >= _RANK[current]:
            return raw  # worsening (or steady) is immediate
        assert self._fresh_since_ms is not None
        if raw is Health.HEALTHY and now_ms - self._fresh_since_ms >= self._recovery_ms:
            return Health.HEALTHY
        return current  # hysteresis: the worse state holds until 30 s of continuous fresh ticks
