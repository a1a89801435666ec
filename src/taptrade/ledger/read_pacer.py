"""How soon the ledger reads its intake again: group commit with a least interval between reads.

Read as soon as anything was queued, the ledger at 3,000 bets/s committed ~480 batches a second of ~6
bets each, and every batch pays the same fixed work whatever its size: an fsync, two round trips to
Redis, one reply message to each gateway worker, a message of events. With reads at least
`interval_s` apart while bets keep coming, each batch holds what arrived over the whole interval; at
5 ms the machine's CPU per bet fell by about a tenth (docs/ledger.md, docs/benchmarks.md) for ~2.5 ms
more wait on average. The pause applies only after a read that found work and did not fill the batch:
a lone bet after a quiet spell is read at once, and a backlog (a full batch) is drained without pause.
"""

from __future__ import annotations


class ReadPacer:
    def __init__(self, interval_s: float, batch_max: int) -> None:
        self.interval_s = interval_s
        self.batch_max = batch_max
        self._next_read_at = 0.0

    def wait_s(self, now: float) -> float:
        """How long to wait before the next read (0 to read now)."""
        return max(0.0, self._next_read_at - now)

    def read(self, started: float, count: int) -> None:
        """A read that began at `started` (monotonic seconds) returned `count` entries."""
        busy = 0 < count < self.batch_max
        self._next_read_at = started + self.interval_s if busy else 0.0
