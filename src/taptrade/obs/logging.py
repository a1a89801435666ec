"""Structured JSON logs (structlog), one object per line on stderr, with bound ids.

Bind a request or command id with `bound_ids(...)`: every line logged inside carries it, which is what
lets an operator follow one bet through gateway and ledger.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _CurrentStderr:
    """Writes to whatever `sys.stderr` is at the time of writing, not when logging was configured."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


# Compact JSON by msgspec: a bet's dispute line costs the gateway about 14 µs instead of the standard
# library's 23 (`bench/log_line.py`, docs/benchmarks.md); what it cannot encode is written as its
# repr, as structlog's renderer does.
_encoder = msgspec.json.Encoder(enc_hook=repr)


def _json(event: Any, **_: Any) -> str:
    return _encoder.encode(event).decode()


def configure_logging(level: str = "info", process: str | None = None) -> None:
    """JSON lines on stderr; `process` names the role (ledger, gateway, ...) on every line."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer(serializer=_json),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    if process is not None:
        structlog.contextvars.bind_contextvars(process=process)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger


@contextmanager
def bound_ids(**ids: str) -> Iterator[None]:
    """Attach ids (request_id, command_id, bet_id) to every log line within the block."""
    with structlog.contextvars.bound_contextvars(**ids):
        yield
