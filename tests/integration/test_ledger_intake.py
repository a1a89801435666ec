"""Malformed intake entries are rejected with a reason and never poison the batch they arrive in;
committed batches publish per-user events with a persisted, gap-free sequence."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY

from taptrade import bus
from taptrade.commands import Envelope as Env
from taptrade.commands import decode_events, decode_replies, encode
from taptrade.config import Settings
from taptrade.ledger import db
from taptrade.ledger.integrity import check_integrity
from tests.support import LedgerThread, RedisServer, address, bet, deposit, now_ms, placeable_column, wait_for

REPLY_CHANNEL = bus.reply_channel("test")


def envelope(request_id: str, command: dict[str, Any]) -> bytes:
    return json.dumps({"request_id": request_id, "reply_to": REPLY_CHANNEL, "command": command}).encode()


def collect(pubsub: redis.client.PubSub, count: int, decode: Any, timeout_s: float = 10.0) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message and message["type"] == "message":
            got.extend(decode(message["data"]))
    return got


@pytest.fixture(autouse=True)
def metrics_baseline() -> None:
    _baseline.clear()
    _baseline.update({key: REGISTRY.get_sample_value("ledger_commands_total", dict(key)) or 0.0
                      for key in _KEYS})  # fmt: skip


_KEYS = [
    (("kind", "Deposit"), ("result", "ok")),
    (("kind", "malformed"), ("result", "bad_command")),
    (("kind", "PlaceBet"), ("result", "bad_stake")),
]
_baseline: dict[tuple[tuple[str, str], ...], float] = {}


def metric(name: str, **labels: str) -> float:
    key = tuple(labels.items())
    return (REGISTRY.get_sample_value(name, labels) or 0.0) - _baseline.get(key, 0.0)


def test_malformed_entries_are_rejected_and_the_rest_of_the_batch_commits(settings: Settings) -> None:
    owner = address(11)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    pubsub = client.pubsub()
    pubsub.subscribe(REPLY_CHANNEL)
    good_bet = bet(owner, column=placeable_column(), amount=1000)
    dep = {"type": "deposit", "command_id": "d-1", "address": owner}
    bad = {
        "unknown-kind": {"type": "steal", "address": owner, "amount": 100},
        "missing-field": {"type": "deposit", "command_id": "x", "address": owner},
        "wrong-type": {**dep, "amount": "1000"},
        "extra-field": {**dep, "amount": 10, "bonus": 1},
        "zero": {**dep, "command_id": "z", "amount": 0},
        "negative": {**dep, "command_id": "n", "amount": -500},
        "huge": {**dep, "command_id": "h", "amount": 10**15},
        "beyond-int64": {**dep, "command_id": "b", "amount": 10**30},
        "bad-address": {**dep, "command_id": "a", "amount": 10, "address": "0xZZ"},
        "bad-stake": {**json.loads(encode(bet(owner, amount=777))), "type": "place_bet"},
        "started-column": {
            **json.loads(encode(bet(owner, column=now_ms() // 5000 - 1))),
            "type": "place_bet",
            "placed_ms": now_ms() - 10_000,
        },
    }
    # All queued before the ledger starts, so they are read as one batch.
    client.xadd(bus.INTAKE_STREAM, {"m": envelope("good-deposit", {**dep, "amount": 5000})})
    for request_id, command in bad.items():
        client.xadd(bus.INTAKE_STREAM, {"m": envelope(request_id, command)})
    client.xadd(bus.INTAKE_STREAM, {"m": b"not json at all"})
    client.xadd(bus.INTAKE_STREAM, {"other": b"no command field"})
    good = Env(request_id="good-bet", reply_to=REPLY_CHANNEL, command=good_bet)
    client.xadd(bus.INTAKE_STREAM, {"m": encode(good)})

    with LedgerThread(settings) as ledger:
        replies = {r.request_id: r for r in collect(pubsub, len(bad) + 2, decode_replies)}
        wait_for(lambda: ledger.service.commands_handled == len(bad) + 4, what="all entries handled")

    assert ledger.service.batches_committed == 1
    assert metric("ledger_commands_total", kind="Deposit", result="ok") == 1
    # Not JSON, no command field, unknown kind, missing field, wrong type, unknown field.
    assert metric("ledger_commands_total", kind="malformed", result="bad_command") == 6
    assert metric("ledger_commands_total", kind="PlaceBet", result="bad_stake") == 1
    assert replies["good-deposit"].code == "ok"
    assert replies["good-bet"].code == "ok"
    assert replies["good-bet"].balance == 4000
    expected = {name: "bad_command" for name in bad} | {
        "bad-stake": "bad_stake",
        "started-column": "cell_not_placeable",
    }
    assert {name: replies[name].code for name in bad} == expected
    assert all(replies[name].message for name in bad)
    assert client.xpending(bus.INTAKE_STREAM, bus.INTAKE_GROUP)["pending"] == 0
    assert client.xlen(bus.INTAKE_STREAM) <= 1  # acknowledged entries are trimmed
    conn = db.open_reader(settings.live_db_path)
    assert conn.execute("SELECT balance_cents FROM users").fetchall() == [(4000,)]
    assert check_integrity(conn).ok


def test_committed_batches_publish_user_events_with_gap_free_seq(settings: Settings) -> None:
    owner = address(12)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    pubsub = client.pubsub()
    pubsub.subscribe(bus.EVENTS_CHANNEL)
    commands = [deposit(owner, 2000), bet(owner, row=1), bet(owner, row=2), bet(owner, row=3, amount=5000)]
    for n, command in enumerate(commands):
        env = Env(request_id=str(n), reply_to=None, command=command)
        client.xadd(bus.INTAKE_STREAM, {"m": encode(env)})

    with LedgerThread(settings):
        events = collect(pubsub, 5, decode_events)

    assert [(e.seq, e.type) for e in events] == [
        (1, "balance"),
        (2, "bet"),
        (3, "balance"),
        (4, "bet"),
        (5, "balance"),
    ]
    assert [e.balance for e in events if e.type == "balance"] == [2000, 1000, 0]
    assert {e.address for e in events} == {owner}
    assert events[1].bet is not None
    assert events[1].bet.status == "confirmed"


def test_ledger_creates_its_group_from_the_start_of_an_existing_stream(settings: Settings) -> None:
    owner = address(13)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    env = Env(request_id=str(uuid.uuid4()), reply_to=None, command=deposit(owner, 700))
    client.xadd(bus.INTAKE_STREAM, {"m": encode(env)})  # queued before any ledger ever ran

    with LedgerThread(settings) as ledger:
        wait_for(lambda: ledger.service.commands_handled == 1, what="queued command handled")

    conn = db.open_reader(settings.live_db_path)
    assert conn.execute("SELECT balance_cents FROM users").fetchall() == [(700,)]


def test_commands_arriving_steadily_share_batches_paced_by_the_interval(settings: Settings) -> None:
    """20 deposits 10 ms apart, with reads at least 100 ms apart: a handful of batches, not one each."""
    paced = settings.model_copy(update={"ledger_batch_interval_ms": 100.0})
    owner = address(14)
    client = redis.Redis.from_url(settings.resolved_redis_url())
    arrivals = 20
    with LedgerThread(paced) as ledger:
        time.sleep(0.3)  # past the read of what was pending at start
        for n in range(arrivals):
            env = Env(request_id=str(n), reply_to=None, command=deposit(owner, 100))
            client.xadd(bus.INTAKE_STREAM, {"m": encode(env)})
            time.sleep(0.01)
        wait_for(lambda: ledger.service.commands_handled == arrivals, what="all deposits handled")

    # Over ~200 ms of arrivals: about three reads; one per deposit without the pacing.
    assert ledger.service.batches_committed <= 5
    conn = db.open_reader(settings.live_db_path)
    assert conn.execute("SELECT balance_cents FROM users").fetchall() == [(100 * arrivals,)]


def test_after_a_quiet_spell_a_command_is_read_at_once(settings: Settings) -> None:
    """The pause follows only a read that found work: once a read has come back empty, the next command is
    read as it arrives, not a whole interval after the last read."""
    paced = settings.model_copy(update={"ledger_batch_interval_ms": 1000.0, "ledger_block_ms": 100})
    owner = address(15)
    client = redis.Redis.from_url(settings.resolved_redis_url())

    def send(n: int) -> None:
        env = Env(request_id=str(n), reply_to=None, command=deposit(owner, 100))
        client.xadd(bus.INTAKE_STREAM, {"m": encode(env)})

    with LedgerThread(paced) as ledger:
        time.sleep(0.3)
        send(0)
        wait_for(lambda: ledger.service.commands_handled == 1, what="first deposit handled")
        # The paced read comes ~1 s after the first and finds nothing within its 100 ms block; a pause
        # after that empty read would hold the next command until ~2 s.
        time.sleep(1.5)
        sent = time.monotonic()
        send(1)
        wait_for(lambda: ledger.service.commands_handled == 2, what="second deposit handled")
        assert time.monotonic() - sent < 0.3


async def test_the_intake_scripts_survive_redis_forgetting_them(settings: Settings) -> None:
    """After a Redis restart (or SCRIPT FLUSH) the scripts are loaded again on first use; nothing fails."""
    from taptrade.bus import IntakeClient, connect_async

    client = connect_async(settings.resolved_redis_url())
    intake = IntakeClient(client, intake_max_len=1000, reply_timeout_ms=5000)
    await intake.start()
    try:
        with LedgerThread(settings):
            assert (await intake.submit(deposit(address(31), 100))).ok
            await client.script_flush()
            assert not (await client.script_exists(_sha(bus.SUBMIT_LUA)))[0]
            assert (await intake.submit(deposit(address(31), 200))).ok
            assert (await client.script_exists(_sha(bus.SUBMIT_LUA)))[0]
    finally:
        await intake.close()
        await client.aclose()


def _sha(source: str) -> str:
    import hashlib

    return hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def test_redis_gone_for_seconds_is_retried_at_most_a_second_apart(
    settings: Settings, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    with LedgerThread(settings):
        time.sleep(0.3)
        redis_server.kill()
        time.sleep(4.0)
        redis_server.start()
        client = redis.Redis.from_url(settings.resolved_redis_url())
        try:
            wait_for(lambda: _group_ready(client), 5.0, "the ledger back on the restarted Redis")
        finally:
            client.close()
    retries = [
        json.loads(line)["retry_in_s"]
        for line in capsys.readouterr().err.splitlines()
        if '"ledger_redis_error"' in line
    ]
    assert len(retries) >= 5  # it kept trying while Redis was gone
    assert max(retries) == 1.0  # backing off, but never more than a second between attempts


def _group_ready(client: redis.Redis) -> bool:
    try:
        return bool(client.xinfo_groups(bus.INTAKE_STREAM))
    except redis.ResponseError:
        return False


def test_a_full_disk_answers_the_batch_storage_unavailable_and_it_resumes_when_space_returns(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    """SQLite's own cap on the file (max_page_count) refuses to grow it exactly as a full disk does
    (SQLITE_FULL): the whole batch is rolled back, every command in it is told so at once, none is left
    pending, and the same commands go through once there is room again."""
    client = redis.Redis.from_url(settings.resolved_redis_url())
    pubsub = client.pubsub()
    pubsub.subscribe(REPLY_CHANNEL)
    owners = [address(1000 + n) for n in range(300)]  # new users: the batch must grow the file

    def queue_all() -> None:
        pipe = client.pipeline(transaction=True)  # one MULTI: the ledger reads them as one batch
        for n, owner in enumerate(owners):
            command = {**json.loads(encode(deposit(owner, 500, command_id=f"full-{n}"))), "type": "deposit"}
            pipe.xadd(bus.INTAKE_STREAM, {"m": envelope(f"r-{n}", command)})
        pipe.execute()

    ledger = LedgerThread(settings)
    conn = ledger.writer_connection()
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    conn.execute(f"PRAGMA max_page_count = {pages}")
    queue_all()
    with ledger:
        refused = collect(pubsub, len(owners), decode_replies)
        assert [r.code for r in refused] == ["storage_unavailable"] * len(owners)
        assert "full" in refused[0].message
        assert REGISTRY.get_sample_value("ledger_storage_refusing") == 1.0
        wait_for(lambda: client.xpending(bus.INTAKE_STREAM, bus.INTAKE_GROUP)["pending"] == 0)

        conn.execute("PRAGMA max_page_count = 1073741823")  # space again
        queue_all()
        applied = collect(pubsub, len(owners), decode_replies)
        assert [r.code for r in applied] == ["ok"] * len(owners)
        assert REGISTRY.get_sample_value("ledger_storage_refusing") == 0.0

    logged = [json.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    refusing = [x for x in logged if x["event"] == "ledger_storage_refusing"]
    assert [(x["level"], x["commands_refused"], x["error"]) for x in refusing] == [
        ("error", len(owners), "database or disk is full")
    ]
    assert [x for x in logged if x["event"] == "ledger_storage_writable"]  # and when it is over

    reader = db.open_reader(settings.live_db_path)
    assert reader.execute("SELECT COUNT(*), SUM(balance_cents) FROM users").fetchone() == (300, 150_000)
    assert check_integrity(reader).ok


async def test_each_request_id_is_unique_and_names_its_client(settings: Settings) -> None:
    """Request ids route the ledger's replies and name a request in its log: two gateway workers' ids
    never meet, and one worker's never repeat."""
    from taptrade.bus import IntakeClient, connect_async

    client = connect_async(settings.resolved_redis_url())
    intakes = [IntakeClient(client, intake_max_len=1000, reply_timeout_ms=5000) for _ in range(2)]
    for intake in intakes:
        await intake.start()
    ids: dict[str, list[str]] = {intake.client_id: [] for intake in intakes}
    try:
        with LedgerThread(settings):
            for n in range(3):
                for intake in intakes:
                    reply = await intake.submit(deposit(address(40 + n), 100))
                    assert reply.ok
                    ids[intake.client_id].append(reply.request_id)
    finally:
        for intake in intakes:
            await intake.close()
        await client.aclose()
    every = [request_id for sent in ids.values() for request_id in sent]
    assert len(set(every)) == 6
    for client_id, sent in ids.items():
        assert all(request_id.startswith(client_id[:12]) for request_id in sent), sent
