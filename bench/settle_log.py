"""What logging a column's settled bets costs the ledger: one line per bet against compact lines of 250.

.venv/bin/python -m bench.settle_log [--bets 7500]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from taptrade.ledger.resolver import SETTLED_FIELDS, SETTLED_PER_LINE
from taptrade.obs.logging import configure_logging, get_logger

BET = ("337f170b-9310-47b9-9ef3-ff0ebc31a25d", "0x19e7e376e7c213b7e7e7e46cc70a5dd086daff2a",
       "359051487:9712", 100, 25_000, "lost", 0)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bets", type=int, default=7500, help="bets in the column (1,500/s for 5 s: 7,500)")
    bets = parser.parse_args().bets
    report = sys.stdout
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the log lines go nowhere; only their cost counts
    configure_logging("info", "ledger")
    log = get_logger("bench")
    started = time.perf_counter()
    for _ in range(bets):
        log.info("bet_settled", bet_id=BET[0], address=BET[1], cell=BET[2], amount=BET[3],
                 multiplier_e4=BET[4], status=BET[5], payout=BET[6], column_high=9_712_500,
                 column_low=9_711_000)  # fmt: skip
    per_bet = time.perf_counter() - started
    settled = [BET] * bets
    started = time.perf_counter()
    for start in range(0, bets, SETTLED_PER_LINE):
        log.info("bets_settled", column=359051487, status="resolved", column_high=9_712_500,
                 column_low=9_711_000, fields=SETTLED_FIELDS,
                 bets=settled[start : start + SETTLED_PER_LINE])  # fmt: skip
    compact = time.perf_counter() - started
    print(f"{bets} settled bets: a line each {per_bet * 1000:.1f} ms; lines of {SETTLED_PER_LINE} "
          f"{compact * 1000:.1f} ms", file=report)  # fmt: skip


if __name__ == "__main__":
    main()
