"""The WebSocket price pacer's hold, simulated: how long a tick waits in `PriceSchedule` before it goes out,
under three rules and three feeds, with no server at all (the pacing the contract asks for, apart from
the cost of sending).

    .venv/bin/python -m bench.pacer_sim

Rules: "100 ms after the last send" (the pacer before 4 December), the schedule with 25 ms of tolerance
and no floor, and the gateway's (one price of tolerance, a 75 ms floor). Feeds, 60,000 ticks each and the
same ticks for every rule: 10 Hz with 0-4 ms of jitter and 2 % of ticks up to 80 ms late; the simulated
market's random ~10 a second; a busy exchange's random ~33 a second. The loop is taken to get to a send
1 ms after the moment it was allowed (0.3 ms for a tick sent as it came). A tick that a newer one
overtakes while it waits is not sent (newest wins) and has no hold, as in the benchmark, which times only
the ticks that arrive. Reports per rule and feed: messages a second, the most in any second, the hold's
p50/p95/p99 in ms.
"""

from __future__ import annotations

import bisect
import random

from taptrade.gateway.ws import PriceSchedule

TICKS = 60_000
LATE_SEND_S = 0.001
PROMPT_SEND_S = 0.0003

# (tolerance_s, min_gap_s) of a PriceSchedule with slots 100 ms apart; None: the gateway's own.
RULES: dict[str, tuple[float, float] | None] = {
    "100 ms after the last send": (float("inf"), 0.1),
    "schedule, 25 ms tolerance": (0.025, 0.0),
    "the gateway's (100 ms, 75 ms floor)": None,
}


def feeds(rng: random.Random) -> dict[str, list[float]]:
    def lateness() -> float:
        return rng.uniform(0, 0.08) if rng.random() < 0.02 else rng.uniform(0, 0.004)

    steady = sorted(n * 0.1 + lateness() for n in range(TICKS))

    def poisson(rate: float) -> list[float]:
        t, out = 0.0, []
        for _ in range(TICKS):
            t += rng.expovariate(rate)
            out.append(t)
        return out

    return {"10 Hz, 2 % late": steady, "random ~10/s": poisson(10), "random ~33/s": poisson(33)}


def simulate(arrivals: list[float], schedule: PriceSchedule) -> str:
    holds: list[float] = []
    sends: list[float] = []
    i = 0
    while i < len(arrivals):
        newest = arrivals[i]
        i += 1
        wait_s = schedule.wait_s(newest)
        send = newest + wait_s + (LATE_SEND_S if wait_s > 0 else PROMPT_SEND_S)
        while i < len(arrivals) and arrivals[i] <= send:  # overtaken while it waited: the newest goes
            newest = arrivals[i]
            i += 1
        holds.append(send - newest)
        sends.append(send)
        schedule.sent(send)
    holds.sort()
    most = max(bisect.bisect_left(sends, s + 1.0) - k for k, s in enumerate(sends))
    cuts = " ".join(f"p{round(p * 100)}={holds[int(len(holds) * p)] * 1000:.1f}" for p in (0.5, 0.95, 0.99))
    rate = len(sends) / (arrivals[-1] - arrivals[0])
    return f"msgs_per_s={rate:.2f} most_in_a_second={most} hold_ms {cuts}"


def main() -> None:
    for feed, arrivals in feeds(random.Random(2)).items():
        for rule, params in RULES.items():
            schedule = PriceSchedule() if params is None else PriceSchedule(0.1, *params)
            print(f"{feed:16s} | {rule:36s} | {simulate(arrivals, schedule)}")


if __name__ == "__main__":
    main()
