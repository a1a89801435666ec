"""The loader's connections against a small real HTTP/1.1 server: answers parsed however the bytes arrive,
requests held for a free connection, a request not answered aborted and reported, a lost connection
replaced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from bench.connections import Links

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[int]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await handler(await reader.readuntil(b"\r\n\r\n"), writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()


@dataclass
class Seen:
    """What the connections reported; `all_answered` once `expect` answers have come."""

    expect: int
    answers: list[tuple[str, int, bytes, bool]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    all_answered: asyncio.Event = field(default_factory=asyncio.Event)

    def answered(self, job: str, status: int, body: bytes, retry_after: bool, at: float) -> None:
        self.answers.append((job, status, body, retry_after))
        if len(self.answers) == self.expect:
            self.all_answered.set()

    async def wait(self) -> None:
        await asyncio.wait_for(self.all_answered.wait(), 5)

    def failed(self, job: str) -> None:
        self.failures.append(job)


def request(job: str) -> bytes:
    return f"GET /{job} HTTP/1.1\r\nHost: x\r\n\r\n".encode()


def path_of(head: bytes) -> str:
    return head.split(b" ")[1].decode()[1:]


OK = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


async def exchange(handler: Handler, jobs: list[str], answers: int, timeout_s: float = 5.0) -> Seen:
    """`jobs` sent on one connection to a server answering with `handler`, until `answers` have come."""
    seen = Seen(expect=answers)
    async with server(handler) as port:
        links: Links[str] = Links("127.0.0.1", port, 1, request, seen.answered, seen.failed, timeout_s)
        await links.open()
        for job in jobs:
            links.submit(job)
        await seen.wait()
        links.close()
    return seen


async def test_answers_are_parsed_whether_the_bytes_come_whole_or_a_few_at_a_time() -> None:
    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        job = path_of(head)
        if job == "whole":
            writer.write(
                b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
            )
        else:  # the length header last, the head and body cut into three-byte pieces
            answer = (
                b'HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 11\r\n\r\n{"a":"bcd"}'
            )
            for at in range(0, len(answer), 3):
                writer.write(answer[at : at + 3])
                await writer.drain()
                await asyncio.sleep(0.001)

    seen = await exchange(handler, ["whole", "pieces", "whole"], answers=3)  # in turn, on one connection
    assert seen.answers == [
        ("whole", 201, b"{}", False),
        ("pieces", 503, b'{"a":"bcd"}', True),
        ("whole", 201, b"{}", False),
    ]
    assert seen.failures == []


async def test_requests_beyond_the_free_connections_wait_for_one_and_all_are_answered() -> None:
    in_flight, most = 0, 0

    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        writer.write(OK)

    seen = Seen(expect=30)
    async with server(handler) as port:
        links: Links[str] = Links("127.0.0.1", port, 3, request, seen.answered, seen.failed, 5.0)
        await links.open()
        for n in range(30):
            links.submit(str(n))
        assert links.waiting() == 27
        await seen.wait()
        links.close()
    assert sorted(int(job) for job, *_ in seen.answers) == list(range(30))
    assert most == 3


async def test_a_request_not_answered_in_time_is_reported_and_its_connection_replaced() -> None:
    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        if path_of(head) != "never":
            writer.write(OK)

    seen = await exchange(handler, ["never", "after"], answers=1, timeout_s=0.3)
    assert seen.failures == ["never"]
    assert seen.answers == [("after", 200, b"", False)]


async def test_a_connection_the_server_closes_reports_its_request_and_another_is_opened() -> None:
    async def handler(head: bytes, writer: asyncio.StreamWriter) -> None:
        if path_of(head) == "close":
            writer.transport.abort()
        else:
            writer.write(OK)

    seen = await exchange(handler, ["close", "next"], answers=1)
    assert seen.failures == ["close"]
    assert seen.answers == [("next", 200, b"", False)]
