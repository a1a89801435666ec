"""Fails when line coverage of the money-critical code, measured by the last `make test`, is under 90 %.

Each area is judged on its own: the ledger, sign-in and signatures, the grid, money, and pricing.
"""

from __future__ import annotations

import io
import sys

import coverage

THRESHOLD = 90.0
AREAS = {
    "ledger/": ["src/taptrade/ledger/*"],
    "auth/": ["src/taptrade/auth/*"],
    "grid": ["src/taptrade/grid.py"],
    "money": ["src/taptrade/money.py"],
    "pricing": ["src/taptrade/pricing/*"],
}


def main() -> int:
    measured = coverage.Coverage()
    measured.load()
    failed = []
    for area, include in AREAS.items():
        percent = measured.report(include=include, file=io.StringIO())
        print(f"coverage {area:<8} {percent:5.1f} %")
        if percent < THRESHOLD:
            failed.append(area)
    if failed:
        print(f"coverage below {THRESHOLD:.0f} % in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
