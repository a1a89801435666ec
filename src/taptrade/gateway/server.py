"""`taptrade gateway --port P --workers N`: N uvicorn workers (uvloop, httptools), each with its own
SO_REUSEPORT listening socket, so the kernel spreads connections evenly across them. (uvicorn's own
`--workers` shares one socket, and in measurements one worker took 127 of 128 connections.)"""

from __future__ import annotations

import multiprocessing
import resource
import socket
from typing import Any

import uvicorn

from taptrade.config import Settings
from taptrade.gateway.app import create_app
from taptrade.gateway.http_protocol import CoalescingHttpToolsProtocol
from taptrade.gateway.ws_wire import BroadcastWebSocketProtocol
from taptrade.obs.heap import freeze_startup_heap
from taptrade.obs.logging import configure_logging, get_logger
from taptrade.obs.metrics import mark_worker_dead, prepare_multiprocess_dir
from taptrade.stop_signal import StopSignal

log = get_logger(__name__)

LISTEN_BACKLOG = 4096
WS_MAX_MESSAGE_BYTES = 64 * 1024
STOP_TIMEOUT_S = 10.0


def reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(LISTEN_BACKLOG)
    sock.set_inheritable(True)
    return sock


def raise_open_files_limit() -> int:
    """Every WebSocket is a file: take the hard limit, not the common soft default of 1,024 (which
    would refuse clients beyond about a thousand per worker). The limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# How a worker speaks HTTP and WebSocket; the tests' in-process gateway serves with the same.
PROTOCOLS: dict[str, Any] = {
    "http": CoalescingHttpToolsProtocol,  # httptools, each answer in one write
    "ws": BroadcastWebSocketProtocol,  # websockets' sans-I/O protocol; broadcasts framed once (ws_wire.py)
    # Per-message deflate compresses every message again for every client: with 2,000 clients it was 65 %
    # of a worker's time and prices stopped arriving (docs/benchmarks.md). Off; nginx or a smaller quote
    # message are the ways to save bytes. (A broadcast framed once relies on it too.)
    "ws_per_message_deflate": False,
    # A client sends small JSON messages (ws.CLIENT_MESSAGE_MAX_BYTES); a bigger message, whole or in
    # fragments, is refused by the protocol (1009) before it is buffered, not after 16 MiB of it.
    "ws_max_size": WS_MAX_MESSAGE_BYTES,
}


def run_worker(settings: Settings, worker: int) -> None:
    configure_logging(settings.log_level, "gateway")
    raise_open_files_limit()
    sock = reuseport_socket(settings.host, settings.port)
    config = uvicorn.Config(
        create_app(settings),
        loop="uvloop",
        lifespan="on",
        access_log=False,
        log_level="warning",
        backlog=LISTEN_BACKLOG,
        timeout_keep_alive=30,
        # Client addresses are not used (nginx logs them): no proxy-header layer, less CPU per request.
        proxy_headers=False,
        **PROTOCOLS,
    )
    log.info("gateway_worker_started", worker=worker, port=settings.port)
    freeze_startup_heap()
    uvicorn.Server(config).run(sockets=[sock])


def serve(settings: Settings, workers: int) -> None:
    """Run the workers and stop them all on SIGTERM/SIGINT; a worker that dies is started again."""
    context = multiprocessing.get_context("spawn")
    stop = StopSignal().install()
    # Each worker writes its samples here; any worker answering /metrics sums them (obs.metrics).
    prepare_multiprocess_dir(settings.data_dir / "run" / f"gateway-{settings.port}-metrics")
    procs = [context.Process(target=run_worker, args=(settings, n), daemon=True) for n in range(workers)]
    for proc in procs:
        proc.start()
    log.info("gateway_started", port=settings.port, workers=workers)
    while not stop.wait(0.5):
        for n, proc in enumerate(procs):
            if not proc.is_alive():
                log.error("gateway_worker_exited", worker=n, code=proc.exitcode)
                if proc.pid is not None:
                    mark_worker_dead(proc.pid)
                procs[n] = context.Process(target=run_worker, args=(settings, n), daemon=True)
                procs[n].start()
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.join(STOP_TIMEOUT_S)
        if proc.is_alive():
            proc.kill()
    log.info("gateway_stopped")
