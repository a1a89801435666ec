"""Reconnect delays: exponential backoff with full jitter.

The n-th delay since the last reset is uniform in [0, min(cap, base * 2**n)]. Full jitter (rather than a
fixed exponential schedule) spreads the reconnects of many clients that lost the same exchange at the
same moment, so they do not all knock on its door in lockstep. The caller resets the schedule once a
connection has proved healthy, so a planned disconnect after a long session reconnects almost at once.
"""

from __future__ import annotations

import random

# 2**62 seconds is far beyond any cap; stopping the exponent there keeps the float arithmetic finite
# however many attempts fail in a row.
_MAX_EXPONENT = 62


class Backoff:
    def __init__(self, base_s: float = 0.5, cap_s: float = 30.0, rng: random.Random | None = None) -> None:
        if not base_s > 0:
            raise ValueError(f"backoff base must be positive, got {base_s!r}")
        if not cap_s >= base_s:
            raise ValueError(f"backoff cap ({cap_s!r}) must be at least the base ({base_s!r})")
        self.base_s = base_s
        self.cap_s = cap_s
        self._rng = rng if rng is not None else random.Random()
        self.attempt = 0  # delays handed out since the last reset

    def ceiling_s(self) -> float:
        """The upper bound of the next delay."""
        return min(self.cap_s, self.base_s * 2.0 ** min(self.attempt, _MAX_EXPONENT))

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; each call widens the window for the one after."""
        delay = self._rng.uniform(0.0, self.ceiling_s())
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start again from the base: call it after a connection that stayed healthy."""
        self.attempt = 0
