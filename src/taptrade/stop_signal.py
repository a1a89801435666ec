"""Stopping a process on SIGTERM or SIGINT without deadlocking it.

CPython runs a signal handler in the main thread, between two bytecodes, possibly while that thread is
inside `threading.Event.wait()` holding the event's internal lock; `Event.set()` in the handler then waits
for that lock for ever. `taptrade run` hung so once on Ctrl-C (its main loop waits on an event five times
a second). The handler here only assigns a value, and `wait` polls it in short sleeps, which a signal
interrupts (the handler runs, the sleep goes on to its end, at most `POLL_S`).
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Protocol

POLL_S = 0.05


class StopFlag(Protocol):
    """What a serving loop needs of its stop: `threading.Event` is one, `StopSignal` another."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


class StopSignal:
    """Set by SIGTERM or SIGINT once `install`ed; `received` names the signal."""

    def __init__(self) -> None:
        self.received: str | None = None

    def install(self) -> StopSignal:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signal.Signals(signum).name

    def is_set(self) -> bool:
        return self.received is not None

    def wait(self, timeout: float | None = None) -> bool:
        """Until a signal came (True) or `timeout` seconds passed (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.received is None:
            left = POLL_S if deadline is None else min(POLL_S, deadline - time.monotonic())
            if left <= 0:
                return False
            time.sleep(left)
        return True
