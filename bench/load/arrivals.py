"""Open-loop arrival schedules: when each call is due, independent of replies.

A closed loop (send, wait, send) slows down with the server and so hides its
stalls (coordinated omission). Here send times are drawn up front from the
offered rate alone, and latency is measured from the scheduled time, so a call
that could not even be sent on time is charged with the delay.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def arrival_offsets(
    rate: float, duration_s: float, rng: random.Random, *, poisson: bool = True
) -> Iterator[float]:
    """Seconds after the start at which calls are due: Poisson or evenly spaced."""
    if rate <= 0:
        return
    offset = rng.uniform(0, 1 / rate)  # processes sharing a rate do not fire in lockstep
    while offset < duration_s:
        yield offset
        offset += rng.expovariate(rate) if poisson else 1 / rate
