"""`redis_wire` against a real redis-server. The intake scripts' pipelined connection (`ScriptLane`): callers
get their own replies in order, a forgotten script is loaded again, Redis's errors keep redis-py's types,
and a Redis that is gone, stalled or restarted fails calls with the right meaning and is used again after.
The subscriptions (`Subscription`): every message reaches the callback in order from the moment `start`
returns, and a lost connection or a restarted Redis is subscribed again without help."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import OutOfMemoryError, ResponseError

from taptrade.bus import never_sent
from taptrade.redis_wire import LaneNotSent, LaneUnknown, Script, ScriptLane, Subscription
from tests.support import RedisServer, free_port

ECHO = Script.of("redis.call('INCR', KEYS[1]) return ARGV[1]")
REFUSE = Script.of("if ARGV[1] ~= '' then return redis.error_reply(ARGV[1]) end return 'fine'")


def where(server: RedisServer, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": server.port, **extra}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own: the tests stop and kill it."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    if server.proc is not None and server.proc.poll() is None:
        os.kill(server.proc.pid, signal.SIGCONT)
    server.stop()


async def test_concurrent_callers_each_get_their_own_reply(redis_url: str, redis_server: RedisServer) -> None:
    lane = ScriptLane(where(redis_server), timeout_s=2.0)
    try:
        replies = await asyncio.gather(
            *(lane.run(ECHO, ["tt:test:count"], [f"call-{n}"]) for n in range(2000))
        )
    finally:
        lane.close()
    assert replies == [f"call-{n}".encode() for n in range(2000)]
    assert redis.Redis.from_url(redis_url).get("tt:test:count") == b"2000"


async def test_a_script_redis_forgot_is_loaded_again(redis_url: str, redis_server: RedisServer) -> None:
    lane = ScriptLane(where(redis_server), timeout_s=2.0)
    try:
        assert await lane.run(ECHO, ["tt:test:count"], ["before"]) == b"before"
        redis.Redis.from_url(redis_url).script_flush()
        assert await asyncio.gather(
            lane.run(ECHO, ["tt:test:count"], ["a"]), lane.run(ECHO, ["tt:test:count"], ["b"])
        ) == [
            b"a",
            b"b",
        ]
    finally:
        lane.close()


async def test_error_replies_keep_redis_py_types(redis_url: str, redis_server: RedisServer) -> None:
    lane = ScriptLane(where(redis_server), timeout_s=2.0)
    try:
        with pytest.raises(OutOfMemoryError):
            await lane.run(REFUSE, [], ["OOM command not allowed when used memory > 'maxmemory'."])
        with pytest.raises(ResponseError, match="MISCONF"):
            await lane.run(REFUSE, [], ["MISCONF Errors writing to the AOF file"])
        assert await lane.run(REFUSE, [], [""]) == b"fine"  # an error reply leaves the connection usable
    finally:
        lane.close()


async def test_the_database_in_the_url_is_used(redis_url: str, redis_server: RedisServer) -> None:
    lane = ScriptLane(where(redis_server, db=3), timeout_s=2.0)
    try:
        await lane.run(ECHO, ["tt:test:count"], ["x"])
    finally:
        lane.close()
    assert redis.Redis(port=redis_server.port, db=3).get("tt:test:count") == b"1"
    assert redis.Redis(port=redis_server.port, db=0).get("tt:test:count") is None


async def test_a_password_is_given_and_a_wrong_one_is_not_sent(own_redis: RedisServer) -> None:
    redis.Redis(port=own_redis.port).config_set("requirepass", "s3cret")
    lane = ScriptLane(where(own_redis, password="s3cret"), timeout_s=1.0)
    wrong = ScriptLane(where(own_redis, password="guess"), timeout_s=1.0)
    try:
        assert await lane.run(ECHO, ["tt:test:count"], ["in"]) == b"in"
        outcomes = await asyncio.gather(
            *(wrong.run(ECHO, ["tt:test:count"], [n]) for n in range(3)), return_exceptions=True
        )
        assert all(isinstance(o, LaneNotSent) and never_sent(o) for o in outcomes), outcomes
    finally:
        lane.close()
        wrong.close()
    assert redis.Redis(port=own_redis.port, password="s3cret").get("tt:test:count") == b"1"


async def test_no_redis_listening_means_not_sent() -> None:
    lane = ScriptLane({"host": "127.0.0.1", "port": free_port()}, timeout_s=1.0)
    with pytest.raises(LaneNotSent) as refused:
        await lane.run(ECHO, ["k"], ["x"])
    assert never_sent(refused.value)


async def test_a_stalled_redis_fails_calls_after_the_timeout_then_serves_again(
    own_redis: RedisServer,
) -> None:
    lane = ScriptLane(where(own_redis), timeout_s=0.5)
    assert own_redis.proc is not None
    try:
        assert await lane.run(ECHO, ["tt:test:count"], ["up"]) == b"up"
        os.kill(own_redis.proc.pid, signal.SIGSTOP)
        started = time.monotonic()
        outcomes = await asyncio.gather(
            *(lane.run(ECHO, ["tt:test:count"], [n]) for n in range(10)), return_exceptions=True
        )
        waited_s = time.monotonic() - started
        # Sent and unanswered: they may have run, so not "not sent".
        assert all(isinstance(o, LaneUnknown) and not never_sent(o) for o in outcomes), outcomes
        assert 0.45 <= waited_s < 1.5
        os.kill(own_redis.proc.pid, signal.SIGCONT)
        assert await lane.run(ECHO, ["tt:test:count"], ["back"]) == b"back"
    finally:
        lane.close()


async def test_a_restarted_redis_is_reconnected_without_help(own_redis: RedisServer) -> None:
    lane = ScriptLane(where(own_redis), timeout_s=1.0)
    try:
        assert await lane.run(ECHO, ["tt:test:count"], ["first"]) == b"first"
        own_redis.kill()
        with pytest.raises((LaneNotSent, LaneUnknown)):
            await lane.run(ECHO, ["tt:test:count"], ["while down"])
        with pytest.raises(LaneNotSent):
            await lane.run(ECHO, ["tt:test:count"], ["still down"])
        own_redis.start()
        assert (
            await lane.run(ECHO, ["tt:test:count"], ["after"]) == b"after"
        )  # and the script is loaded again
    finally:
        lane.close()


async def test_a_connection_killed_by_redis_is_replaced(redis_url: str, redis_server: RedisServer) -> None:
    lane = ScriptLane(where(redis_server), timeout_s=1.0)
    admin = redis.Redis.from_url(redis_url)
    try:
        assert await lane.run(ECHO, ["tt:test:count"], ["one"]) == b"one"
        assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
        await asyncio.sleep(0.05)  # the close reaches the lane
        assert await lane.run(ECHO, ["tt:test:count"], ["two"]) == b"two"
    finally:
        lane.close()


class Heard:
    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []

    def __call__(self, channel: str, payload: bytes) -> None:
        if payload == b"poison":
            raise ValueError("a message the callback cannot take")
        self.messages.append((channel, payload))

    async def until(self, count: int, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"heard {len(self.messages)} of {count}: {self.messages[-3:]}"
            await asyncio.sleep(0.01)


async def test_every_message_after_start_reaches_the_callback_in_order(
    redis_url: str, redis_server: RedisServer
) -> None:
    heard = Heard()
    subscription = Subscription(where(redis_server), ["tt:test:a", "tt:test:b"], heard, name="test")
    publisher = redis.Redis.from_url(redis_url)
    await subscription.start()
    try:
        for n in range(500):
            publisher.publish("tt:test:a" if n % 2 else "tt:test:b", f"m{n}")
        publisher.publish("tt:test:a", "poison")  # the callback raises: logged, the subscription goes on
        publisher.publish("tt:test:a", "last")
        await heard.until(501)
    finally:
        await subscription.close()
    expected = [("tt:test:a" if n % 2 else "tt:test:b", f"m{n}".encode()) for n in range(500)]
    assert heard.messages == [*expected, ("tt:test:a", b"last")]


async def subscribed(admin: redis.Redis, channel: str, timeout_s: float = 10.0) -> None:
    """Until Redis counts one subscriber on `channel` (polled without blocking the loop)."""
    deadline = time.monotonic() + timeout_s
    while admin.pubsub_numsub(channel)[0][1] != 1:
        assert time.monotonic() < deadline, f"no subscriber on {channel} within {timeout_s} s"
        await asyncio.sleep(0.05)


async def test_a_lost_subscription_is_made_again(own_redis: RedisServer) -> None:
    heard = Heard()
    subscription = Subscription(where(own_redis), ["tt:test:a"], heard, name="test")
    await subscription.start()
    admin = redis.Redis(port=own_redis.port)
    try:
        admin.publish("tt:test:a", "before")
        await heard.until(1)
        assert admin.client_kill_filter(_type="pubsub") == 1
        await subscribed(admin, "tt:test:a")
        admin.publish("tt:test:a", "after a kill")
        await heard.until(2)
        own_redis.kill()
        own_redis.start()
        admin = redis.Redis(port=own_redis.port)
        await subscribed(admin, "tt:test:a")
        admin.publish("tt:test:a", "after a restart")
        await heard.until(3)
    finally:
        await subscription.close()
    assert [payload for _, payload in heard.messages] == [b"before", b"after a kill", b"after a restart"]


async def test_no_redis_to_subscribe_to_means_not_started() -> None:
    subscription = Subscription({"host": "127.0.0.1", "port": free_port()}, ["c"], Heard(), name="test")
    with pytest.raises(LaneNotSent):
        await subscription.start()


async def test_a_plain_command_shares_the_lane_with_scripts(
    redis_url: str, redis_server: RedisServer
) -> None:
    redis.Redis.from_url(redis_url).hset("tt:test:hash", mapping={"a": "1", "b": "2"})
    lane = ScriptLane(where(redis_server), timeout_s=2.0)
    try:
        flat, echoed, missing = await asyncio.gather(
            lane.command(b"HGETALL", "tt:test:hash"),
            lane.run(ECHO, ["tt:test:count"], ["between"]),
            lane.command(b"HGETALL", "tt:test:none"),
        )
    finally:
        lane.close()
    assert dict(zip(flat[::2], flat[1::2], strict=True)) == {b"a": b"1", b"b": b"2"}
    assert echoed == b"between"
    assert missing == []
