"""Event-loop lag: how late the loop runs a callback that asked for a given moment.

Every call of a worker shares one event loop, and grpc.aio accepts new calls on
it one at a time, so a loop that runs late delays calls before any handler sees
them: their time in the handlers stays short while clients wait. This lag is
that delay, measured directly, and it rises before anything else does.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Histogram

#: Seconds between two measurements.
EVERY_S = 0.1
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LoopLag:
    """A histogram of loop lag, fed by a task that sleeps EVERY_S at a time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._histogram = Histogram(
            "masterdata_event_loop_lag_seconds",
            "How late the event loop ran a timer (new calls wait that long to be accepted)",
            buckets=LAG_BUCKETS,
            registry=registry,
        )

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        observe = self._histogram.observe
        while True:
            due = loop.time() + EVERY_S
            await asyncio.sleep(EVERY_S)
            observe(max(0.0, loop.time() - due))
