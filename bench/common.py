"""Shared benchmark machinery: closed-loop load at fixed concurrency, latency stats, JSON.

Every benchmark prints one JSON document in which each figure stands beside a
baseline measured in the same run, with their ratio.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Stats:
    """Throughput and latency of one measured operation."""

    calls: int
    seconds: float
    calls_per_s: float
    p50_ms: float
    p99_ms: float


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


async def measure(
    operation: Callable[[int], Awaitable[Any]],
    *,
    concurrency: int,
    calls: int,
    warmup: int = 50,
) -> Stats:
    """Run `calls` operations from `concurrency` workers (closed loop); time each one."""
    for i in range(min(warmup, calls)):
        await operation(i)
    latencies: list[float] = []
    counter = iter(range(calls))

    async def worker() -> None:
        for i in counter:
            start = time.perf_counter()
            await operation(i)
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Stats(
        calls=len(latencies),
        seconds=round(elapsed, 3),
        calls_per_s=round(len(latencies) / elapsed, 1),
        p50_ms=round(percentile(latencies, 0.50) * 1000, 3),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 3),
    )


def compare(subject: Stats, baseline: Stats) -> dict[str, Any]:
    """A figure beside its in-run baseline, with the throughput ratio."""
    return {
        "subject": asdict(subject),
        "baseline": asdict(baseline),
        "ratio": round(subject.calls_per_s / baseline.calls_per_s, 3)
        if baseline.calls_per_s
        else None,
    }


def emit(report: dict[str, Any]) -> None:
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
