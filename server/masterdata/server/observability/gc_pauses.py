"""Garbage-collection pauses: spaced out after start-up, and measured for /metrics.

Every collection stops the event loop, and with it every call in flight. A full
(oldest-generation) pass scans every tracked object of the process: 40 to 60 ms in a
busy worker here, and CPython's default starts one every 10 middle-generation
passes, every few seconds under load. At 330 calls/s on two workers, ten such
pauses a minute per worker put read p99 at 80 ms and write p99 at 130 ms; with a
full pass every 100 middle passes, 49 ms and 75 ms, and RSS stayed the same.

The youngest generation is collected every 7,000 net allocations instead of 700: a
call allocates hundreds of short-lived containers (grpc.aio's, asyncio's, the
handler's), most freed by reference counting before a pass would see them.
Measured with bench/cpu_per_call.py, three runs alternated: GetCommodity 1.91-1.98x
-> 1.56-1.67x the no-op, CreateCommodity 3.34-4.67x -> 2.90-3.40x; an import's
server CPU 42-45 -> 35-41 us a row (bench/bulk_import.py, 30,000 rows); the same RSS.
A young pass over a few thousand objects stays well under a millisecond.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from prometheus_client import CollectorRegistry, Histogram

#: Middle-generation passes per full pass (CPython's default is 10).
FULL_PASS_EVERY = 100
#: Net allocations of tracked objects per youngest-generation pass (CPython's default is 700).
YOUNG_PASS_EVERY = 7000
PAUSE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)


def settle_heap() -> None:
    """Once start-up is done: keep its objects out of later passes, and space passes out.

    Start-up objects (descriptors, models, compiled statements) live as long as the
    process; frozen, no later pass scans them.
    """
    gc.collect()
    gc.freeze()
    _, middle, _ = gc.get_threshold()
    gc.set_threshold(YOUNG_PASS_EVERY, middle, FULL_PASS_EVERY)


class GcPauses:
    """A histogram of collection pauses by generation, fed by a `gc.callbacks` hook."""

    def __init__(self, registry: CollectorRegistry) -> None:
        histogram = Histogram(
            "masterdata_gc_pause_seconds",
            "Garbage-collection pauses (the event loop stops), by generation",
            ["generation"],
            buckets=PAUSE_BUCKETS,
            registry=registry,
        )
        self._by_generation = [histogram.labels(str(g)) for g in range(3)]
        self._started = 0.0

    def watch(self) -> None:
        if self._observe not in gc.callbacks:
            gc.callbacks.append(self._observe)

    def stop(self) -> None:
        if self._observe in gc.callbacks:
            gc.callbacks.remove(self._observe)

    def _observe(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._by_generation[info["generation"]].observe(time.perf_counter() - self._started)
