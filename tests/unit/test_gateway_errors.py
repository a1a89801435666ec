"""A ledger answer that is neither success nor a refusal of the request becomes 503 `unavailable`."""

from __future__ import annotations

from taptrade.gateway.errors import STORAGE_RETRY_AFTER_S, not_applied


def test_storage_refusing_writes_is_503_with_the_ledgers_words_and_a_longer_retry_after() -> None:
    error = not_applied(
        "storage_unavailable", "database or disk is full", "the ledger could not take this bet"
    )
    assert (error.status, error.code) == (503, "unavailable")
    assert error.message == "the ledger could not take this bet: database or disk is full"
    assert error.retry_after_s == STORAGE_RETRY_AFTER_S > 1


def test_any_other_code_is_503_naming_the_code() -> None:
    error = not_applied("internal_error", "boom", "the faucet could not credit you")
    assert (error.status, error.code, error.retry_after_s) == (503, "unavailable", 1.0)
    assert error.message == "the faucet could not credit you (internal_error)"
