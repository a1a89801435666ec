"""Money: integer cents, multipliers in integer 1/10,000, and the one payout rule. No floats, no I/O."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal

MULTIPLIER_SCALE = 10_000
# The largest amount one command may move: $10 billion. Bounds SQLite's 64-bit integers with room to spare.
MAX_AMOUNT_CENTS = 1_000_000_000_000
# The largest balance a user may hold (also a CHECK in the schema).
MAX_BALANCE_CENTS = 1_000_000_000_000_000

_PRICE_RE = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,12})?")
_MULTIPLIER_RE = re.compile(r"^(0|[1-9][0-9]{0,5})(?:\.([0-9]{1,4}))?$")


def payout_cents(amount_cents: int, multiplier_e4: int) -> int:
    """What a winning bet pays, stake included: floor(amount x multiplier)."""
    if amount_cents < 0 or multiplier_e4 < 0:
        raise ValueError("amount and multiplier must not be negative")
    return amount_cents * multiplier_e4 // MULTIPLIER_SCALE


def format_multiplier(multiplier_e4: int) -> str:
    """25000 -> "2.5000"."""
    if multiplier_e4 < 0:
        raise ValueError("multiplier must not be negative")
    whole, frac = divmod(multiplier_e4, MULTIPLIER_SCALE)
    return f"{whole}.{frac:04d}"


def parse_multiplier(text: str) -> int:
    """ "2.5", "2.5000" or "2" -> 25000. At most 4 decimal places; anything else is a ValueError."""
    match = _MULTIPLIER_RE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a multiplier with at most 4 decimal places: {text!r}")
    whole, frac = match.group(1), match.group(2) or ""
    return int(whole) * MULTIPLIER_SCALE + int(frac.ljust(4, "0"))


def price_to_cents(text: str) -> int:
    """An exchange's decimal price string ("61685.99000000") -> integer cents, half-even at the cent.

    Decimal arithmetic, never float. Anything that is not a plain positive decimal is a ValueError.
    """
    if not _PRICE_RE.fullmatch(text):
        raise ValueError(f"not a decimal price: {text[:40]!r}")
    cents = (Decimal(text) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    if cents <= 0:
        raise ValueError(f"price must be positive: {text!r}")
    return int(cents)


def format_cents(amount_cents: int) -> str:
    """123456 -> "$1,234.56" (for logs and operator output)."""
    sign = "-" if amount_cents < 0 else ""
    dollars, cents = divmod(abs(amount_cents), 100)
    return f"{sign}${dollars:,}.{cents:02d}"
