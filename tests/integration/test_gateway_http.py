"""The gateway's HTTP/1.1 protocol (`gateway.http_protocol`), as a client on a socket sees it: an answer in
one TCP segment, HEAD and `Expect: 100-continue` still answered, keep-alive requests in turn."""

from __future__ import annotations

import json
import socket
import struct

from tests.gateway_support import GatewayThread

TCP_INFO_DATA_SEGS_IN = 152  # struct tcp_info's tcpi_data_segs_in (Linux 4.6 and later)


def data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int(struct.unpack_from("<I", info, TCP_INFO_DATA_SEGS_IN)[0])


def read_answer(sock: socket.socket, head_only: bool = False) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the gateway closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        ),
        0,
    )
    while not head_only and len(body) < length:
        body += sock.recv(65536)
    return head, body


def connect(gateway: GatewayThread) -> socket.socket:
    return socket.create_connection(("127.0.0.1", gateway.settings.port), timeout=10)


def test_an_answer_reaches_the_client_as_one_segment(gateway: GatewayThread) -> None:
    with connect(gateway) as sock:
        for _ in range(20):  # keep-alive: one request after another on the connection
            before = data_segments_in(sock)
            sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: t\r\n\r\n")
            head, body = read_answer(sock)
            assert head.startswith(b"HTTP/1.1 200")
            assert "version" in json.loads(body)
            assert data_segments_in(sock) - before == 1  # head and body together, not two writes


def test_a_head_request_is_answered_without_a_body(gateway: GatewayThread) -> None:
    with connect(gateway) as sock:
        sock.sendall(b"HEAD /api/version HTTP/1.1\r\nHost: t\r\n\r\n")
        head, rest = read_answer(sock, head_only=True)
        assert head.split(b" ")[1] in (b"200", b"405")  # answered at once, not held for a body
        assert rest == b""
        sock.sendall(b"GET /api/version HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_answer(sock)[0].startswith(b"HTTP/1.1 200")


def test_a_request_expecting_100_continue_gets_it_before_sending_its_body(gateway: GatewayThread) -> None:
    body = b'{"bet_id":"x"}'
    with connect(gateway) as sock:
        sock.sendall(
            b"POST /api/bets HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        interim, _ = read_answer(sock, head_only=True)
        assert interim == b"HTTP/1.1 100 Continue"
        sock.sendall(body)
        head, answer = read_answer(sock)
        assert head.startswith(b"HTTP/1.1 4")  # refused (no valid bet), in the contract's shape
        assert "error" in json.loads(answer)
