"""When each request of a run is due: the arrival schedule of the open-loop load generator.

A run is a list of phases, each with a start and end rate (requests per second) that the rate follows
linearly: a constant load is one phase with equal rates, a spike is a ramp then a hold then a lower rate to
show recovery. Arrivals are placed exactly where the integral of the rate reaches each whole request, so a
ramp from 0 to 5,000/s over 10 s sends 25,000 requests, fewer at first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    start_rate: float
    end_rate: float

    @property
    def requests(self) -> float:
        return (self.start_rate + self.end_rate) / 2 * self.seconds


@dataclass(frozen=True)
class Arrival:
    due_s: float  # seconds from the run's start
    phase: str


def constant(name: str, seconds: float, rate: float) -> Phase:
    return Phase(name, seconds, rate, rate)


def _offset_in_phase(phase: Phase, count: float) -> float:
    """Seconds into `phase` at which `count` requests have been due: solve a/2·t² + r0·t = count."""
    slope = (phase.end_rate - phase.start_rate) / phase.seconds
    if abs(slope) < 1e-12:
        return count / phase.start_rate
    root = phase.start_rate**2 + 2 * slope * count
    return (-phase.start_rate + math.sqrt(max(root, 0.0))) / slope


def arrivals(phases: list[Phase]) -> list[Arrival]:
    """Every request's due time, in order, from the phases' rates."""
    due: list[Arrival] = []
    phase_start = 0.0
    carried = 0.0  # the fraction of a request the previous phases left over
    for phase in phases:
        total = phase.requests + carried
        n = 1
        while n <= total:
            offset = _offset_in_phase(phase, n - carried)
            due.append(Arrival(phase_start + min(offset, phase.seconds), phase.name))
            n += 1
        carried = total - (n - 1)
        phase_start += phase.seconds
    return due


def spike(peak_rate: float, ramp_s: float, hold_s: float, after_rate: float, after_s: float) -> list[Phase]:
    """From nothing to `peak_rate` in `ramp_s`, held, then `after_rate` to show the recovery."""
    return [
        Phase("ramp", ramp_s, 0.0, peak_rate),
        constant("peak", hold_s, peak_rate),
        constant("after", after_s, after_rate),
    ]
