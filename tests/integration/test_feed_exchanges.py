"""Binance and Coinbase sources against a fake exchange: a WebSocket server on 127.0.0.1 that replays real
recorded frames (tests/data/exchange-messages) and misbehaves on cue. Expected values are computed here,
from the raw JSON with Decimal, independently of the parsers under test."""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import random
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import InvalidURI

from taptrade.feed.backoff import Backoff
from taptrade.feed.events import Heartbeat, SourceEvent, Tick
from taptrade.feed.exchanges.base import ExchangeSource, MalformedFrame, SourceOptions
from taptrade.feed.exchanges.binance import BinanceSource
from taptrade.feed.exchanges.coinbase import CoinbaseSource, iso_to_ms

DATA = Path(__file__).resolve().parent.parent / "data" / "exchange-messages"
BINANCE_CAPTURE = DATA / "binance-spot-btcusdt-20240809T0000Z.jsonl.gz"
COINBASE_CAPTURE = DATA / "coinbase-exchange-20210417.ws.gz"
BINANCE_PATH = "/stream?streams=btcusdt@trade/btcusdt@bookTicker"
NOW_MS = 1_723_161_600_000

Session = Callable[[ServerConnection], Awaitable[None]]


# --- recorded data, and what it must become (computed independently) -------------------------------------


@functools.cache
def binance_capture() -> tuple[tuple[int, str], ...]:
    """(local receive ns, raw frame) for every line of the Binance capture."""
    rows = []
    with gzip.open(BINANCE_CAPTURE, "rt", encoding="utf-8") as capture:
        for line in capture:
            received_ns, raw = line.rstrip("\n").split(" ", 1)
            rows.append((int(received_ns), raw))
    return tuple(rows)


def binance_frames() -> list[str]:
    return [raw for _, raw in binance_capture()]


def binance_trade_frames() -> list[str]:
    return [raw for raw in binance_frames() if json.loads(raw)["stream"] == "btcusdt@trade"]


@functools.cache
def coinbase_server_frames() -> tuple[str, ...]:
    """The server -> client JSON frames of the Coinbase capture, in order."""
    frames = []
    with gzip.open(COINBASE_CAPTURE, "rt", encoding="utf-8") as capture:
        for line in capture:
            line = line.strip()
            if not line or line.startswith("wss://"):  # blank, connect, or client -> server
                continue
            frames.append(line.split(": ", 1)[1])
    return tuple(frames)


def coinbase_matches(product: str) -> list[str]:
    return [
        raw
        for raw in coinbase_server_frames()
        if (msg := json.loads(raw))["type"] in ("match", "last_match") and msg["product_id"] == product
    ]


def cents(price: str) -> int:
    return int((Decimal(price) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def expected_binance_trade(raw: str) -> tuple[int, int, int]:
    data = json.loads(raw)["data"]
    return cents(data["p"]), data["T"], data["t"]


def expected_coinbase_match(raw: str) -> tuple[int, int, int]:
    msg = json.loads(raw)
    since_epoch = datetime.fromisoformat(msg["time"]) - datetime(1970, 1, 1, tzinfo=UTC)
    return cents(msg["price"]), since_epoch // timedelta(milliseconds=1), msg["trade_id"]


def triples(events: list[SourceEvent]) -> list[tuple[int, int, int | None]]:
    return [(e.price_cents, e.ts_ms, e.trade_id) for e in events if isinstance(e, Tick)]


def with_data(raw: str, **changes: Any) -> str:
    """A recorded Binance frame with some payload fields replaced (for malformed and derived frames)."""
    msg = json.loads(raw)
    msg["data"].update(changes)
    return json.dumps(msg)


def coinbase_heartbeat(product: str, time: str = "2021-04-17T16:44:10.123456Z") -> str:
    # Not in the capture (it has no heartbeat channel): the shape of the Coinbase docs' example.
    return json.dumps(
        {"type": "heartbeat", "sequence": 90, "last_trade_id": 20, "product_id": product, "time": time}
    )


# --- the fake exchange ----------------------------------------------------------------------------------


class FakeExchange:
    """A WebSocket server on 127.0.0.1: connection n runs `sessions[n]`; any later one is held open, silent.

    A session that returns closes its connection normally (code 1000)."""

    def __init__(self, *sessions: Session, path: str = BINANCE_PATH) -> None:
        self._sessions = sessions
        self._path = path
        self.connections = 0
        self._server: Server | None = None
        self.url = ""

    async def _handle(self, ws: ServerConnection) -> None:
        index = self.connections
        self.connections += 1
        if index < len(self._sessions):
            await self._sessions[index](ws)
        else:
            await ws.wait_closed()

    async def __aenter__(self) -> FakeExchange:
        self._server = await serve(self._handle, "127.0.0.1", 0)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}{self._path}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


async def send_all(ws: ServerConnection, frames: list[str] | list[str | bytes]) -> None:
    for frame in frames:
        await ws.send(frame)


def replaying(frames: list[str], *, then_close: int | None = None) -> Session:
    """Send the frames, then hold the connection open (or close it with `then_close`)."""

    async def session(ws: ServerConnection) -> None:
        await send_all(ws, frames)
        if then_close is None:
            await ws.wait_closed()
        else:
            await ws.close(then_close)

    return session


@dataclass
class Sleeps:
    """Stands in for asyncio.sleep: records each reconnect delay instead of waiting it out."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        await asyncio.sleep(0)


def binance_source(url: str, **options: Any) -> BinanceSource:
    return BinanceSource(
        url=url,
        options=SourceOptions(**options),
        clock=lambda: NOW_MS,
        backoff=Backoff(rng=random.Random(7)),
        sleep=Sleeps(),
    )


def coinbase_source(url: str, product: str = "BTC-USD") -> CoinbaseSource:
    return CoinbaseSource(
        product, url, clock=lambda: NOW_MS, backoff=Backoff(rng=random.Random(7)), sleep=Sleeps()
    )


async def take(source: ExchangeSource, count: int, *, timeout_s: float = 10.0) -> list[SourceEvent]:
    """The first `count` events of the source; closes the source's connection when done."""
    events: list[SourceEvent] = []
    async with asyncio.timeout(timeout_s), aclosing(source.events()) as stream:
        async for event in stream:
            events.append(event)
            if len(events) == count:
                break
    return events


async def take_until(source: ExchangeSource, stop: Callable[[SourceEvent], bool]) -> list[SourceEvent]:
    """Events up to and including the first for which `stop` is true."""
    events: list[SourceEvent] = []
    async with asyncio.timeout(10), aclosing(source.events()) as stream:
        async for event in stream:
            events.append(event)
            if stop(event):
                break
    return events


# --- Binance: recorded replay ---------------------------------------------------------------------------


async def test_binance_replay_yields_every_recorded_trade_exactly_in_order() -> None:
    frames = binance_frames()
    async with FakeExchange(replaying(frames)) as exchange:
        source = binance_source(exchange.url)
        events = await take(source, len(frames), timeout_s=60)
    expected = [expected_binance_trade(raw) for raw in binance_trade_frames()]
    assert len(expected) == 10_147
    assert triples(events) == expected
    assert (source.stats.malformed, source.stats.duplicates_or_out_of_order) == (0, 0)


async def test_binance_book_ticker_frames_become_heartbeats_in_place() -> None:
    frames = binance_frames()[:2000]
    async with FakeExchange(replaying(frames)) as exchange:
        events = await take(binance_source(exchange.url), len(frames))
    kinds = ["trade" if json.loads(raw)["stream"].endswith("@trade") else "heartbeat" for raw in frames]
    assert ["trade" if isinstance(e, Tick) else "heartbeat" for e in events] == kinds
    assert kinds.count("heartbeat") > 1000


def test_binance_heartbeat_time_is_receive_time_corrected_by_the_latest_trade_skew() -> None:
    capture = binance_capture()
    trade_at = next(i for i, (_, raw) in enumerate(capture) if "@trade" in raw)
    book_at = next(i for i in range(trade_at, len(capture)) if "@bookTicker" in capture[i][1])
    trade_received_ms = capture[trade_at][0] // 1_000_000
    book_received_ms = capture[book_at][0] // 1_000_000
    source = BinanceSource()
    source.parse(capture[trade_at][1], trade_received_ms)
    skew_ms = json.loads(capture[trade_at][1])["data"]["E"] - trade_received_ms
    assert 1_200 < skew_ms < 1_300  # the recording machine ran ~1.27 s behind the exchange
    heartbeats = source.parse(capture[book_at][1], book_received_ms)
    assert heartbeats == [Heartbeat(ts_ms=book_received_ms + skew_ms, received_ms=book_received_ms)]


def test_binance_heartbeat_before_any_trade_uses_receive_time() -> None:
    received_ns, raw = binance_capture()[0]
    assert "@bookTicker" in raw
    received_ms = received_ns // 1_000_000
    assert BinanceSource().parse(raw, received_ms) == [Heartbeat(ts_ms=received_ms, received_ms=received_ms)]


def test_binance_agg_trade_becomes_tick_with_aggregate_id() -> None:
    # A real frame: bmoscon/cryptofeed sample_data/BINANCE.ws.1.0 (via examples-first-of-each-type.jsonl).
    raw = (
        '{"stream": "nknusdt@aggTrade", "data": {"e": "aggTrade", "E": 1633998523963, "s": "NKNUSDT", '
        '"a": 15683430, "p": "0.35280000", "q": "58.00000000", "f": 19862790, "l": 19862790, '
        '"T": 1633998523963, "m": false, "M": true}}'
    )
    source = BinanceSource("nknusdt")
    assert source.parse(raw, NOW_MS) == [Tick(35, 1633998523963, NOW_MS, 15683430)]


def test_binance_trades_of_another_symbol_are_ignored() -> None:
    raw = binance_trade_frames()[0]
    assert BinanceSource("ethusdt").parse(raw, NOW_MS) == []


def test_binance_default_url_is_the_combined_stream_of_the_symbol() -> None:
    assert (
        BinanceSource().url == "wss://stream.binance.com:9443/stream?streams=btcusdt@trade/btcusdt@bookTicker"
    )


def test_url_that_is_not_a_websocket_url_is_refused_at_once() -> None:
    with pytest.raises(InvalidURI):
        BinanceSource(url="https://stream.binance.com:9443/stream")


async def test_binance_subscription_ack_is_ignored_without_counting_anything() -> None:
    trades = binance_trade_frames()[:2]
    frames = [trades[0], '{"result": null, "id": 1}', trades[1]]
    async with FakeExchange(replaying(frames)) as exchange:
        source = binance_source(exchange.url)
        events = await take(source, 2)
    assert triples(events) == [expected_binance_trade(raw) for raw in trades]
    assert (source.stats.malformed, source.stats.exchange_errors) == (0, 0)


async def test_binance_error_reply_is_counted_and_kept_as_last_error() -> None:
    trades = binance_trade_frames()[:2]
    error = '{"code": 2, "msg": "Invalid request: unknown stream", "id": 2}'
    async with FakeExchange(replaying([trades[0], error, trades[1]])) as exchange:
        source = binance_source(exchange.url)
        events = await take(source, 2)
    assert len(triples(events)) == 2
    assert source.stats.exchange_errors == 1
    assert source.stats.last_error is not None
    assert "Invalid request: unknown stream" in source.stats.last_error


async def test_binance_server_shutdown_notice_makes_the_client_reconnect() -> None:
    trades = binance_trade_frames()[:2]
    shutdown = '{"stream": "!serverShutdown", "data": {"e": "serverShutdown", "E": 1723161601438}}'
    # The first session never hangs up by itself: only the client acting on the notice moves things on.
    async with FakeExchange(replaying([trades[0], shutdown]), replaying([trades[1]])) as exchange:
        source = binance_source(exchange.url)
        events = await take(source, 2)
    assert triples(events) == [expected_binance_trade(raw) for raw in trades]
    assert (exchange.connections, source.stats.reconnects) == (2, 1)


# --- the reconnecting loop ------------------------------------------------------------------------------


@pytest.mark.parametrize("drop", ["abort", "going_away"])
async def test_reconnects_after_a_drop_and_drops_what_the_server_replays(drop: str) -> None:
    trades = binance_trade_frames()[:150]
    first_hundred_seen = asyncio.Event()

    async def first(ws: ServerConnection) -> None:
        await send_all(ws, trades[:100])
        await first_hundred_seen.wait()
        if drop == "abort":
            ws.transport.abort()  # no close frame: the TCP connection just dies
        else:
            await ws.close(1001)  # Binance's planned disconnect at 24 h

    async with FakeExchange(first, replaying(trades[50:])) as exchange:
        source = binance_source(exchange.url)
        events: list[SourceEvent] = []
        async with asyncio.timeout(10), aclosing(source.events()) as stream:
            async for event in stream:
                events.append(event)
                if len(events) == 100:
                    first_hundred_seen.set()
                if len(events) == 150:
                    break
    assert triples(events) == [expected_binance_trade(raw) for raw in trades]
    assert source.stats.reconnects == 1
    assert source.stats.duplicates_or_out_of_order == 50


async def test_reconnect_waits_the_delays_drawn_by_the_injected_backoff() -> None:
    trade = binance_trade_frames()[0]
    sleeps = Sleeps()

    async def hang_up(ws: ServerConnection) -> None:
        await ws.close()

    async with FakeExchange(hang_up, hang_up, replaying([trade])) as exchange:
        backoff = Backoff(rng=random.Random(42))
        source = BinanceSource(url=exchange.url, clock=lambda: NOW_MS, backoff=backoff, sleep=sleeps)
        await take(source, 1)
    twin = Backoff(rng=random.Random(42))
    assert sleeps.delays == [twin.next_delay(), twin.next_delay()]


@pytest.mark.parametrize(
    ("ms_per_clock_read", "attempts"),
    [
        (31_000, [1, 2, 1, 2]),  # data 31 s after connecting: healthy, so the window starts over
        (29_000, [1, 2, 3, 4]),  # data, but not for 30 s yet: the window keeps widening
    ],
)
async def test_backoff_starts_over_only_after_a_connection_that_stayed_healthy_for_30_s(
    ms_per_clock_read: int, attempts: list[int]
) -> None:
    trades = binance_trade_frames()[:2]
    reads = [0]
    backoff = Backoff(rng=random.Random(1))
    attempts_at_sleep: list[int] = []

    def clock() -> int:  # each read is one step later: connect at t, first frame at t + step
        reads[0] += 1
        return NOW_MS + reads[0] * ms_per_clock_read

    async def sleep(delay_s: float) -> None:
        attempts_at_sleep.append(backoff.attempt)

    async def hang_up(ws: ServerConnection) -> None:
        await ws.close()

    sessions = (hang_up, hang_up, replaying([trades[0]], then_close=1000), hang_up, replaying([trades[1]]))
    async with FakeExchange(*sessions) as exchange:
        source = BinanceSource(url=exchange.url, clock=clock, backoff=backoff, sleep=sleep)
        await take(source, 2)
    assert attempts_at_sleep == attempts


# Each turns a good recorded trade frame into a bad one.
MALFORMED: dict[str, Callable[[str], str | bytes]] = {
    "not JSON": lambda good: good[:-1],
    "JSON array": lambda good: "[1, 2, 3]",
    "no payload": lambda good: '{"stream": "btcusdt@trade"}',
    "payload not an object": lambda good: '{"stream": "btcusdt@trade", "data": [1]}',
    "unknown payload": lambda good: '{"stream": "btcusdt@trade", "data": {"x": 1}}',
    "trade without fields": lambda good: '{"stream": "btcusdt@trade", "data": {"e": "trade"}}',
    "price abc": lambda good: with_data(good, p="abc"),
    "negative price": lambda good: with_data(good, p="-61685.99000000"),
    "zero price": lambda good: with_data(good, p="0.00000000"),
    "price as a JSON number": lambda good: with_data(good, p=61685.99),
    "trade id as a string": lambda good: with_data(good, t="3735693016"),
    "time as a float": lambda good: with_data(good, T=1723161601437.0),
    "deep nesting": lambda good: "[" * 100_000 + "]" * 100_000,
    "binary, not UTF-8": lambda good: b"\xff\xfe\x00junk",
}


@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_malformed_frame_is_dropped_and_counted_and_the_stream_goes_on(kind: str) -> None:
    trades = binance_trade_frames()[:3]
    frames: list[str | bytes] = [trades[0], MALFORMED[kind](trades[1]), trades[2]]

    async def session(ws: ServerConnection) -> None:
        await send_all(ws, frames)
        await ws.wait_closed()

    async with FakeExchange(session) as exchange:
        source = binance_source(exchange.url)
        events = await take(source, 2)
    assert triples(events) == [expected_binance_trade(trades[0]), expected_binance_trade(trades[2])]
    assert (source.stats.malformed, source.stats.reconnects) == (1, 0)


async def test_frame_over_the_size_limit_is_dropped_and_counted_and_the_client_reconnects() -> None:
    trades = binance_trade_frames()[:2]
    huge = '{"stream": "btcusdt@trade", "data": "' + "x" * (1 << 20) + '"}'
    async with FakeExchange(replaying([trades[0], huge]), replaying([trades[1]])) as exchange:
        source = binance_source(exchange.url)
        events = await take(source, 2)
    assert triples(events) == [expected_binance_trade(raw) for raw in trades]
    assert (source.stats.malformed, source.stats.reconnects) == (1, 1)


async def test_silence_longer_than_the_receive_timeout_reconnects() -> None:
    trades = binance_trade_frames()[:2]
    async with FakeExchange(replaying([trades[0]]), replaying([trades[1]])) as exchange:
        source = binance_source(exchange.url, receive_timeout_s=0.2)
        events = await take(source, 2)
    assert len(triples(events)) == 2
    assert source.stats.reconnects == 1
    assert source.stats.last_error == "receive timeout: no frame for 0.2 s"


async def test_client_answers_the_servers_protocol_pings() -> None:
    trade = binance_trade_frames()[0]
    latencies: list[float] = []

    async def pinging(ws: ServerConnection) -> None:
        pong = await ws.ping()
        latencies.append(await asyncio.wait_for(pong, 5))
        await ws.send(trade)
        await ws.wait_closed()

    async with FakeExchange(pinging) as exchange:
        await take(binance_source(exchange.url), 1)
    assert len(latencies) == 1


class CsvSource(ExchangeSource):
    """A minimal source whose trades carry no id: frames are "price,ts_ms"."""

    name = "csv"

    def parse(self, frame: str | bytes, received_ms: int) -> list[SourceEvent]:
        text = frame.decode() if isinstance(frame, bytes) else frame
        price, ts_ms = text.split(",")
        return [Tick(int(price), int(ts_ms), received_ms)]


async def test_trades_without_ids_are_dropped_only_when_older_than_the_last() -> None:
    frames = ["100,1000", "101,2000", "102,1500", "103,2000", "104,3000"]
    async with FakeExchange(replaying(frames)) as exchange:
        source = CsvSource(exchange.url, clock=lambda: NOW_MS)
        events = await take(source, 4)
    assert [(e.price_cents, e.ts_ms) for e in events if isinstance(e, Tick)] == [
        (100, 1000),
        (101, 2000),
        (103, 2000),  # same millisecond as the last: a different trade, kept
        (104, 3000),
    ]
    assert source.stats.duplicates_or_out_of_order == 1


# --- Coinbase -------------------------------------------------------------------------------------------


def coinbase_session(frames: list[str], received: list[str | bytes]) -> Session:
    """Wait for the client's first message (recorded in `received`), then replay and hold open."""

    async def session(ws: ServerConnection) -> None:
        received.append(await ws.recv())
        await send_all(ws, frames)
        await ws.wait_closed()

    return session


async def test_coinbase_subscribes_to_matches_and_heartbeat_first_thing() -> None:
    received: list[str | bytes] = []
    async with FakeExchange(
        coinbase_session([coinbase_heartbeat("BTC-USD")], received), path="/"
    ) as exchange:
        await take(coinbase_source(exchange.url), 1)
    assert len(received) == 1
    assert json.loads(received[0]) == {
        "type": "subscribe",
        "product_ids": ["BTC-USD"],
        "channels": ["matches", "heartbeat"],
    }


@pytest.mark.parametrize("product", ["SKL-USD", "BAND-GBP", "NMR-EUR"])
async def test_coinbase_replay_yields_the_recorded_matches_of_the_product_only(product: str) -> None:
    frames = [*coinbase_server_frames(), coinbase_heartbeat(product)]  # the heartbeat marks the end
    async with FakeExchange(coinbase_session(frames, []), path="/") as exchange:
        source = coinbase_source(exchange.url, product)
        events = await take_until(source, lambda event: isinstance(event, Heartbeat))
    expected = [expected_coinbase_match(raw) for raw in coinbase_matches(product)]
    assert len(expected) >= 5
    assert triples(events) == expected
    assert source.stats.malformed == 0


async def test_coinbase_last_match_repeated_after_reconnect_is_dropped_as_duplicate() -> None:
    matches = coinbase_matches("SKL-USD")[:5]  # a last_match, then matches
    again = json.dumps({**json.loads(matches[2]), "type": "last_match"})  # what a resubscribe sends

    async def first(ws: ServerConnection) -> None:
        await ws.recv()
        await send_all(ws, matches[:3])
        await ws.close(1001)

    async with FakeExchange(first, coinbase_session([again, *matches[3:]], []), path="/") as exchange:
        source = coinbase_source(exchange.url, "SKL-USD")
        events = await take(source, 5)
    assert triples(events) == [expected_coinbase_match(raw) for raw in matches]
    assert (source.stats.reconnects, source.stats.duplicates_or_out_of_order) == (1, 1)


def test_coinbase_heartbeat_becomes_heartbeat_at_the_exchange_time() -> None:
    frame = coinbase_heartbeat("BTC-USD", "2021-04-17T16:44:10.123456Z")
    assert CoinbaseSource().parse(frame, NOW_MS) == [Heartbeat(ts_ms=1618677850123, received_ms=NOW_MS)]


def test_coinbase_heartbeat_of_another_product_is_ignored() -> None:
    assert CoinbaseSource().parse(coinbase_heartbeat("ETH-USD"), NOW_MS) == []


def test_coinbase_ticker_is_ignored() -> None:
    ticker = next(raw for raw in coinbase_server_frames() if json.loads(raw)["type"] == "ticker")
    product = json.loads(ticker)["product_id"]
    assert CoinbaseSource(product).parse(ticker, NOW_MS) == []


def test_coinbase_recorded_acks_without_heartbeat_leave_the_subscription_unconfirmed() -> None:
    source = CoinbaseSource("SKL-USD")
    acks = [raw for raw in coinbase_server_frames() if json.loads(raw)["type"] == "subscriptions"]
    assert [source.parse(raw, NOW_MS) for raw in acks] == [[], [], []]
    assert source.subscribed is False  # the 2021 session never asked for the heartbeat channel


def test_coinbase_ack_of_both_channels_confirms_the_subscription() -> None:
    source = CoinbaseSource()
    ack = {
        "type": "subscriptions",
        "channels": [
            {"name": "matches", "product_ids": ["BTC-USD"]},
            {"name": "heartbeat", "product_ids": ["BTC-USD"]},
        ],
    }
    source.parse(json.dumps(ack), NOW_MS)
    assert source.subscribed is True


def test_coinbase_error_message_is_counted_and_kept_as_last_error() -> None:
    source = CoinbaseSource()
    frame = '{"type": "error", "message": "Failed to subscribe", "reason": "No channels provided"}'
    assert source.parse(frame, NOW_MS) == []
    assert source.stats.exchange_errors == 1
    assert source.stats.last_error == "coinbase error: Failed to subscribe (No channels provided)"


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2021-04-17T16:43:37.056746Z", 1_618_677_817_056),
        ("2021-04-17T16:43:37.999999Z", 1_618_677_817_999),  # truncated: still the same second
        ("2021-04-17T16:43:37Z", 1_618_677_817_000),
        ("2021-04-17T16:43:37.5Z", 1_618_677_817_500),
        ("2021-04-17T16:43:37.123456789+00:00", 1_618_677_817_123),
        ("1970-01-01T00:00:00.001Z", 1),
    ],
)
def test_coinbase_times_become_exact_unix_milliseconds(text: str, ms: int) -> None:
    assert iso_to_ms(text) == ms


@pytest.mark.parametrize(
    "text",
    ["2021-04-17 16:43:37Z", "2021-04-17T16:43:37", "2021-04-17T16:43:37+02:00", "2021-02-30T00:00:00Z", ""],
)
def test_coinbase_time_that_is_not_iso_utc_is_malformed(text: str) -> None:
    with pytest.raises(MalformedFrame):
        iso_to_ms(text)
