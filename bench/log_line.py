"""What one bet's dispute log line costs the gateway: 20,000 lines shaped like `gateway.bets._log_bet`'s,
through the logging configuration every process uses (`obs.logging`), to stderr (send it to /dev/null).

    .venv/bin/python -m bench.log_line 2>/dev/null
"""

from __future__ import annotations

import sys
import time

from taptrade.obs.logging import configure_logging, get_logger

LINES = 20_000


def main() -> None:
    configure_logging("info", process="gateway")
    log = get_logger("bench")
    started = time.perf_counter()
    for n in range(LINES):
        log.info("bet", code="ok", bet_id="b3172180-38a4-482b-9756-2c0128d658ff",
                 address="0xaa34f45c27c168c32dcdea5a071dcc418c4a04be", cell="359061154:9712", amount=2500,
                 multiplier_e4=25000, min_multiplier_e4=11000, quote_id=1795305759566 + n,
                 placed_ms=1795305759741 + n, balance=None, duplicate=False, ms=1.23)  # fmt: skip
    micros = (time.perf_counter() - started) / LINES * 1e6
    print(f"lines={LINES} us_per_line={micros:.1f}", file=sys.__stdout__)


if __name__ == "__main__":
    main()
