"""The ledger loop: read the intake stream, commit each batch in one transaction, then acknowledge,
reply and publish events.

Order matters and is the whole of the durability argument:
1. XREADGROUP takes whatever is queued (up to the batch cap). While bets keep coming, reads are at least
   `batch_interval_s` apart (`read_pacer`), so a batch is what arrived over that interval; after a quiet
   spell the first command is read at once.
2. `LedgerStore.apply_batch` commits (fsync) before anything is told to anyone.
3. Only then one pipelined round trip: XACK, trim what is acknowledged, the replies (one message per
   reply channel), the users' events (one message).
A crash between 2 and 3 leaves the entries pending; on restart they are read again from id 0 and the
store's idempotency (bet_id, command_id) answers them as repeats: exactly once in effect.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, cast

import msgspec
import redis
from redis.exceptions import RedisError, ResponseError

from taptrade import bus
from taptrade.commands import (
    Code,
    Command,
    Envelope,
    PlaceBet,
    Reply,
    UserEvent,
    decode_envelope,
    decode_loose_envelope,
    encode,
)
from taptrade.ledger.checkpointer import WalCheckpointer
from taptrade.ledger.metrics import (
    LEDGER_BATCH_FAILURES_TOTAL,
    LEDGER_BATCH_SIZE,
    LEDGER_COMMANDS_TOTAL,
    LEDGER_COMMIT_SECONDS,
    LEDGER_STORAGE_REFUSING,
)
from taptrade.ledger.read_pacer import ReadPacer
from taptrade.ledger.resolver import Resolved, Resolver
from taptrade.ledger.rotation import Rotator
from taptrade.ledger.store import BatchFailed, LedgerStore, Outcome
from taptrade.market import bar_decoder
from taptrade.obs.logging import get_logger
from taptrade.stop_signal import StopFlag

log = get_logger(__name__)

# An entry as Redis sends it: [id, [field, value, field, value, ...]] (fields None once deleted).
StreamEntry = tuple[bytes, list[bytes] | None]


def _raw_reply(response: object, **_options: object) -> object:
    return response


RETRY_MIN_S = 0.05
HOUSEKEEPING_EVERY_S = 0.2
# The least time between two settlement steps of a busy column (docs/resolution.md). Settled as fast as the
# loop went, a column of 15,000 bets took a whole core for most of a second every 5 s, and the bets placed
# meanwhile waited for the CPU (the bet path's p99 rose from ~25 ms to ~200 ms each time); 50 ms apart its
# steps still came in 1.5 s and lined up with the worst seconds of a minute at 3,000 bets/s. 100 ms apart
# (with the housekeeping's own step every 200 ms, about ten 500-bet steps a second) the same column takes
# ~3 s of the 5 s before the next one is due.
SETTLE_STEP_EVERY_S = 0.1
# When the column after the one being settled is already due (a column too busy for ten steps a second, or
# catching up after downtime), the steps come this close, so settlement never falls behind for good.
SETTLE_STEP_CATCHING_UP_S = 0.02
BARS_PER_READ = 2000
RETRY_MAX_S = 5.0  # a failing batch (a full disk, say) is retried at most this far apart
# Redis going away is retried far more often: an attempt costs nothing, and every second of waiting after
# Redis is back is a second of bets unanswered (a 5 s cap turned a 10 s outage into up to 15 s).
REDIS_RETRY_MAX_S = 1.0
STORAGE_LOG_EVERY_S = 5.0  # while the storage refuses writes, one error line this often (not one a batch)


class LedgerService:
    def __init__(
        self,
        client: redis.Redis,
        store: LedgerStore,
        *,
        batch_max: int,
        block_ms: int,
        batch_interval_s: float = 0.0,
        resolver: Resolver | None = None,
        rotator: Rotator | None = None,
        checkpointer: WalCheckpointer | None = None,
    ) -> None:
        self._redis = client
        # Entries stay as Redis sent them: building a dict per entry costs more than reading the one field.
        self._redis.set_response_callback("XREADGROUP", _raw_reply)
        self._store = store
        self._batch_max = batch_max
        self._block_ms = block_ms
        self._pacer = ReadPacer(batch_interval_s, batch_max)
        self.batches_committed = 0
        self.commands_handled = 0
        self._resolver = resolver
        self._rotator = rotator
        self._checkpointer = checkpointer
        self._next_housekeeping = 0.0
        self._housekeeping_retry_s = RETRY_MIN_S
        self._housekeeping_paused_until = 0.0
        self._next_settle_step = 0.0
        # While the storage refuses writes: refused commands not yet logged, and when to log them next.
        self._storage_refusing = False
        self._refused_unlogged = 0
        self._refusal_log_due = 0.0

    def ensure_group(self) -> None:
        """Create the consumer groups from the start of their streams, so nothing queued before is skipped."""
        for stream in (bus.INTAKE_STREAM, bus.BARS_STREAM):
            try:
                self._redis.xgroup_create(stream, bus.INTAKE_GROUP, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def run(self, stop: StopFlag) -> None:
        """Serve until `stop` is set. Database or Redis failures are retried with backoff, never fatal."""
        if self._checkpointer is None:
            self._serve(stop)
            return
        self._checkpointer.start()
        try:
            self._serve(stop)
        finally:
            self._checkpointer.stop()

    def _serve(self, stop: StopFlag) -> None:
        retry_s = RETRY_MIN_S
        # Entries delivered before a crash (or a failed batch) and never acknowledged come first.
        pending_first = True
        group_ready = False
        while not stop.is_set():
            try:
                if not group_ready:
                    self.ensure_group()
                    group_ready = True
                entries = self._read(stop, pending=pending_first)
                if pending_first and not entries:
                    pending_first = False
                    continue
                if entries:
                    self.handle(entries)
                if self._resolver is not None:
                    self._housekeep(self._resolver)
                retry_s = RETRY_MIN_S
            except BatchFailed as exc:
                LEDGER_BATCH_FAILURES_TOTAL.inc()
                log.error("ledger_batch_failed", error=str(exc), retry_in_s=retry_s)
                pending_first = True
                stop.wait(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
            except RedisError as exc:
                retry_s = min(retry_s, REDIS_RETRY_MAX_S)
                log.error("ledger_redis_error", error=str(exc), retry_in_s=retry_s)
                pending_first, group_ready = True, False
                stop.wait(retry_s)
                retry_s = min(retry_s * 2, REDIS_RETRY_MAX_S)

    def _housekeep(self, resolver: Resolver) -> None:
        """Bars, resolution and rotation when they are due. A failure of storage is logged and tried again
        on its own backoff, without holding up the bets behind it (the bars stay queued in Redis)."""
        now = time.monotonic()
        if now < self._housekeeping_paused_until:
            return
        try:
            if now >= self._next_housekeeping:
                self._next_housekeeping = now + HOUSEKEEPING_EVERY_S
                self._next_settle_step = now + _settle_spacing_s(resolver)
                self.housekeeping(resolver)
                if self._rotator is not None:
                    self._rotator.rotate_due()
                self._housekeeping_retry_s = RETRY_MIN_S
            elif resolver.settling and now >= self._next_settle_step:
                self._next_settle_step = now + _settle_spacing_s(resolver)
                self.publish_resolved(resolver.resolve_due())  # a step between batches
        except BatchFailed as exc:
            LEDGER_BATCH_FAILURES_TOTAL.inc()
            retry_s = self._housekeeping_retry_s
            log.error("ledger_housekeeping_failed", error=str(exc), retry_in_s=retry_s)
            self._housekeeping_paused_until = now + retry_s
            self._housekeeping_retry_s = min(retry_s * 2, RETRY_MAX_S)

    def close(self) -> None:
        """Close the Redis connections (after `run` has returned)."""
        self._redis.close()

    def _read(self, stop: StopFlag, pending: bool) -> list[StreamEntry]:
        """The next batch: entries delivered before and never acknowledged (`pending`), else new ones, read
        no sooner than the pacer allows."""
        if not pending:
            wait_s = self._pacer.wait_s(time.monotonic())
            if wait_s > 0:
                stop.wait(wait_s)
        started = time.monotonic()
        response = self._redis.xreadgroup(
            bus.INTAKE_GROUP,
            bus.LEDGER_CONSUMER,
            {bus.INTAKE_STREAM: "0" if pending else ">"},
            count=self._batch_max,
            block=None if pending else self._block_ms,
        )
        entries = _entries(response)
        self._pacer.read(started, len(entries))
        return entries

    def handle(self, entries: Sequence[StreamEntry]) -> None:
        """Apply one batch of stream entries: commit, then acknowledge, reply and publish."""
        replies: dict[str, list[Reply]] = defaultdict(list)
        envelopes: list[Envelope] = []
        for entry_id, fields in entries:
            data = _field(fields, bus.INTAKE_FIELD)
            try:
                if data is None:
                    raise msgspec.DecodeError("entry has no command field")
                envelopes.append(decode_envelope(data))
            except msgspec.DecodeError as exc:
                self._reject_malformed(entry_id, data, str(exc), replies)

        outcomes: list[Outcome] = []
        if envelopes:
            started = time.perf_counter()
            try:
                outcomes = self._store.apply_batch([e.command for e in envelopes])
            except BatchFailed as exc:
                if not exc.storage:
                    raise  # passing (a lock): the loop retries the batch
                outcomes = self._refuse_for_storage(exc, len(envelopes))
            else:
                self._storage_writable()
                LEDGER_COMMIT_SECONDS.observe(time.perf_counter() - started)
                self.batches_committed += 1
        LEDGER_BATCH_SIZE.observe(len(entries))

        events: list[UserEvent] = []
        results: Counter[tuple[str, str]] = Counter()
        for envelope, outcome in zip(envelopes, outcomes, strict=True):
            kind = type(envelope.command).__name__
            results[kind, outcome.code] += 1
            if not outcome.ok:
                log.info(
                    "command_rejected",
                    request_id=envelope.request_id,
                    kind=kind,
                    code=outcome.code,
                    reason=outcome.message,
                    ref=_command_ref(envelope.command),
                )
            events.extend(outcome.events)
            if envelope.reply_to:
                replies[envelope.reply_to].append(_reply(envelope.request_id, outcome))
        for (kind, result), count in results.items():
            LEDGER_COMMANDS_TOTAL.labels(kind=kind, result=result).inc(count)
        self.commands_handled += len(entries)
        self._acknowledge_and_tell([e[0] for e in entries], replies, events)

    def _refuse_for_storage(self, exc: BatchFailed, count: int) -> list[Outcome]:
        """The storage refuses writes (a full disk): the batch was rolled back whole, so each of its
        commands is answered as not applied — the callers learn it at once and may ask again later —
        rather than held unanswered until someone frees space. Logged when it starts and then every
        few seconds with the count refused meanwhile (each refusal has its own `command_rejected` line)."""
        LEDGER_BATCH_FAILURES_TOTAL.inc()
        LEDGER_STORAGE_REFUSING.set(1)
        self._storage_refusing = True
        self._refused_unlogged += count
        now = time.monotonic()
        if now >= self._refusal_log_due:
            log.error("ledger_storage_refusing", error=str(exc), commands_refused=self._refused_unlogged)
            self._refused_unlogged, self._refusal_log_due = 0, now + STORAGE_LOG_EVERY_S
        message = f"the ledger cannot write to its storage ({exc}); nothing was done"
        return [Outcome(Code.STORAGE_UNAVAILABLE, message) for _ in range(count)]

    def _storage_writable(self) -> None:
        """A batch committed: if the storage had been refusing, that is over."""
        if self._storage_refusing:
            LEDGER_STORAGE_REFUSING.set(0)
            log.warning("ledger_storage_writable", commands_refused=self._refused_unlogged)
            self._storage_refusing, self._refused_unlogged, self._refusal_log_due = False, 0, 0.0

    def housekeeping(self, resolver: Resolver) -> None:
        """Persist the feed's bars, resolve closed columns, tell the owners and everyone watching."""
        entries = self._read_bars(pending=True) or self._read_bars(pending=False)
        if entries:
            bars = [
                bar_decoder.decode(data)
                for _, fields in entries
                if (data := _field(fields, bus.INTAKE_FIELD))
            ]
            resolver.persist_bars(bars)
            pipe = self._redis.pipeline(transaction=False)
            pipe.xack(bus.BARS_STREAM, bus.INTAKE_GROUP, *[e[0] for e in entries])
            pipe.xtrim(bus.BARS_STREAM, minid=entries[-1][0], approximate=False)
            pipe.execute()
        self.publish_resolved(resolver.resolve_due())

    def publish_resolved(self, resolved: list[Resolved]) -> None:
        """The owners' events of each settlement step, and each finished column to everyone watching."""
        if resolved:
            pipe = self._redis.pipeline(transaction=False)
            for column in resolved:
                if column.finished:
                    pipe.publish(bus.COLUMNS_CHANNEL, encode(column.column_message()))
                if column.events:
                    pipe.publish(bus.EVENTS_CHANNEL, encode(column.events))
            pipe.execute()

    def _read_bars(self, pending: bool) -> list[StreamEntry]:
        response = self._redis.xreadgroup(
            bus.INTAKE_GROUP,
            bus.LEDGER_CONSUMER,
            {bus.BARS_STREAM: "0" if pending else ">"},
            count=BARS_PER_READ,
        )
        return [e for e in _entries(response) if e[1]]

    def _reject_malformed(
        self,
        entry_id: bytes,
        data: bytes | None,
        error: str,
        replies: dict[str, list[Reply]],
    ) -> None:
        loose = decode_loose_envelope(data) if data is not None else None
        log.warning(
            "intake_malformed",
            entry_id=entry_id.decode(),
            error=error,
            request_id=loose.request_id if loose else None,
        )
        LEDGER_COMMANDS_TOTAL.labels(kind="malformed", result=Code.BAD_COMMAND.value).inc()
        if loose is not None and loose.reply_to and loose.request_id:
            replies[loose.reply_to].append(
                Reply(request_id=loose.request_id, code=Code.BAD_COMMAND, message=error)
            )

    def _acknowledge_and_tell(
        self,
        entry_ids: list[bytes],
        replies: dict[str, list[Reply]],
        events: list[UserEvent],
    ) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.xack(bus.INTAKE_STREAM, bus.INTAKE_GROUP, *entry_ids)
        # Entries are delivered in id order, so everything before the last one is now acknowledged.
        pipe.xtrim(bus.INTAKE_STREAM, minid=entry_ids[-1], approximate=False)
        for channel, channel_replies in replies.items():
            pipe.publish(channel, encode(channel_replies))
        if events:
            pipe.publish(bus.EVENTS_CHANNEL, encode(events))
        pipe.execute()


def _entries(response: Any) -> list[StreamEntry]:
    """RESP3 sends {stream: entries}, RESP2 [[stream, entries]]; one stream either way."""
    if not response:
        return []
    if isinstance(response, dict):
        (entries,) = response.values()
    else:
        entries = response[0][1]
    return cast(list[StreamEntry], entries)


def _field(fields: list[bytes] | None, name: bytes) -> bytes | None:
    if fields:
        for i in range(0, len(fields) - 1, 2):
            if fields[i] == name:
                return fields[i + 1]
    return None


def _command_ref(command: Command) -> str | None:
    """The id a dispute would name: the bet's, or the money command's."""
    if isinstance(command, PlaceBet):
        return command.bet_id
    return getattr(command, "command_id", None)


def _reply(request_id: str, outcome: Outcome) -> Reply:
    return Reply(
        request_id=request_id,
        code=outcome.code,
        message=outcome.message,
        balance=outcome.balance,
        bet=outcome.bet,
        entry=outcome.entry,
        limits=outcome.limits,
        duplicate=outcome.duplicate,
    )


def _settle_spacing_s(resolver: Resolver) -> float:
    return SETTLE_STEP_CATCHING_UP_S if resolver.behind() else SETTLE_STEP_EVERY_S
