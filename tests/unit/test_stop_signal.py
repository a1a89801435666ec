"""The stop of `taptrade run`, the gateway's supervisor and the ledger: a signal sets it, a wait returns
on it soon after, and the handler takes no lock (a `threading.Event` set from a handler can deadlock the
thread it interrupted, which `taptrade run` once did on Ctrl-C)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from taptrade.stop_signal import POLL_S, StopSignal


@pytest.fixture
def restore_handlers() -> Iterator[None]:
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


@pytest.mark.usefixtures("restore_handlers")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_the_wait_and_is_named(signum: signal.Signals) -> None:
    stop = StopSignal().install()
    assert stop.wait(0.05) is False  # nothing yet: the timeout
    timer = threading.Timer(0.1, os.kill, (os.getpid(), signum))
    started = time.monotonic()
    timer.start()
    assert stop.wait(5.0) is True
    assert time.monotonic() - started < 0.1 + POLL_S + 0.5
    assert stop.is_set()
    assert stop.received == signum.name
    timer.join()


@pytest.mark.usefixtures("restore_handlers")
def test_the_handler_takes_no_lock() -> None:
    stop = StopSignal().install()
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    # Called while this thread holds a lock, as a handler can be: it returns at once, and the first
    # signal is the one named.
    lock = threading.Lock()
    with lock:
        handler(signal.SIGTERM, None)
        handler(signal.SIGINT, None)
    assert stop.received == "SIGTERM"
    assert stop.wait(0) is True
