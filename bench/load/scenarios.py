"""The scenarios of issue 9 as presets, and the run that executes one.

(a) 1,000 connections, 1,000 calls/s of the mix for 60 s; (b) saturation: the
rate grows step by step until read p99 passes 100 ms (in two steps running), the
highest rate that held is the capacity; (c) 10,000 open subscriptions plus (a) at
300 calls/s; (d) a 100,000-row import while (a) runs at 300 calls/s. Every figure can be scaled
down from the command line; the report records what actually ran.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from grpc import aio

from bench.load import bulk
from bench.load.clients import client_process
from bench.load.dataset import Dataset
from bench.load.fleet import Fleet
from bench.load.probes import Probe
from bench.load.report import event_summary, number_summary, phase_summary
from bench.load.subscribers import (
    Truth,
    committed_after,
    head_sequence,
    subscriber_process,
)

SUBSCRIBERS_PER_PROCESS = 5000
READY_TIMEOUT_S = 300.0
DRAIN_GRACE_S = 120.0
READ_P99_LIMIT_MS = 100.0
WRITE_P99_LIMIT_MS = 250.0
READ_P99_DURING_IMPORT_MS = 250.0
DELIVERY_P99_LIMIT_MS = 2000.0
FAILED_STEPS_TO_STOP = 2


@dataclass(frozen=True)
class Plan:
    """What one run does; a preset, possibly scaled down by flags."""

    scenario: str
    rate: float
    duration_s: float
    connections: int
    subscribers: int
    clients: int
    warmup_s: float = 5.0
    big_import_rows: int = 0
    saturate: bool = False
    step_factor: float = 1.25
    max_steps: int = 12
    poisson: bool = True


PRESETS = {
    "a": Plan("a", rate=1000, duration_s=60, connections=1000, subscribers=10, clients=2),
    "b": Plan(
        "b", rate=100, duration_s=20, connections=1000, subscribers=10, clients=2, saturate=True
    ),
    "c": Plan("c", rate=300, duration_s=60, connections=1000, subscribers=10_000, clients=2),
    "d": Plan(
        "d",
        rate=300,
        duration_s=60,
        connections=1000,
        subscribers=10,
        clients=2,
        big_import_rows=100_000,
    ),
    "smoke": Plan(
        "smoke", rate=50, duration_s=3, connections=20, subscribers=5, clients=2, warmup_s=1
    ),
}


def shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def held(phase: dict[str, Any]) -> bool:
    """A saturation step holds: read p99 within the limit, the rate served, no errors."""
    return (
        phase["classes"]["read"]["p99_ms"] <= READ_P99_LIMIT_MS
        and phase["completed_calls_per_s"] >= 0.95 * phase["offered_calls_per_s"]
        and not phase["errors"]["unexpected"]
        and not phase["dropped_by_client"]
    )


class Run:
    """Clients, subscribers and probes around one server, for one plan."""

    def __init__(self, plan: Plan, target: str, probe: Probe, data: Dataset) -> None:
        self.plan, self.target, self.probe, self.data = plan, target, probe, data
        self.numbers: list[int] = []
        # Built before any phase, so making the file does not load the machine during one.
        rows = plan.big_import_rows
        self.big_file = bulk.big_csv(rows, data.tag) if rows else b""

    async def phase(
        self, clients: Fleet, rate: float, seconds: float, channel: aio.Channel
    ) -> dict[str, Any]:
        """Offer `rate` for `seconds` (with the big import alongside, if planned)."""
        await self.probe.start()
        importing = None
        if self.big_file:
            importing = asyncio.create_task(bulk.upload(channel, self.big_file))
        started = time.monotonic()
        clients.send(("run", rate / self.plan.clients, seconds, self.plan.poisson))
        results = await clients.receive(seconds + DRAIN_GRACE_S)
        mix_ended = time.monotonic() - started
        big = None
        if importing is not None:
            big = await importing
            big["finished_within_mix"] = big["seconds"] <= mix_ended
        summary = phase_summary(rate, seconds, results, await self.probe.stop())
        for result in results:
            self.numbers.extend(result["numbers"])
        return summary | ({"bulk_import": big} if big else {})

    async def execute(self, channel: aio.Channel) -> dict[str, Any]:
        plan = self.plan
        after = await head_sequence(channel)
        subscriber_args = [
            (self.target, count, after)
            for count in shares(plan.subscribers, -(-plan.subscribers // SUBSCRIBERS_PER_PROCESS))
            if count
        ]
        subscribers = Fleet(subscriber_process, subscriber_args)
        clients = Fleet(
            client_process,
            [
                (self.target, count, self.data, i, plan.clients)
                for i, count in enumerate(shares(plan.connections, plan.clients))
            ],
        )
        try:
            ready = await subscribers.receive(READY_TIMEOUT_S) if subscriber_args else []
            await clients.receive(READY_TIMEOUT_S)
            if plan.warmup_s:
                clients.send(("run", plan.rate / plan.clients, plan.warmup_s, plan.poisson))
                for result in await clients.receive(plan.warmup_s + DRAIN_GRACE_S):
                    self.numbers.extend(result["numbers"])
            report: dict[str, Any] = {"phases": await self.phases(clients, channel)}
            clients.send(("stop",))
            truth = await committed_after(channel, after)
            report["events"] = await self.check_feed(subscribers, ready, truth)
        finally:
            clients.close()
            subscribers.close()
        report["document_numbers"] = number_summary(self.numbers)
        return report

    async def phases(self, clients: Fleet, channel: aio.Channel) -> list[dict[str, Any]]:
        plan = self.plan
        if not plan.saturate:
            return [await self.phase(clients, plan.rate, plan.duration_s, channel)]
        # One failing step may be noise (the cores are shared); two in a row end the search.
        steps, rate, failed = [], plan.rate, 0
        for _ in range(plan.max_steps):
            step = await self.phase(clients, round(rate, 1), plan.duration_s, channel)
            step["held"] = held(step)
            steps.append(step)
            failed = 0 if step["held"] else failed + 1
            if failed == FAILED_STEPS_TO_STOP:
                break
            rate *= plan.step_factor
        return steps

    async def check_feed(
        self, subscribers: Fleet, ready: list[Any], truth: Truth
    ) -> dict[str, Any]:
        if not subscribers.pipes:
            return event_summary([], len(truth.sequences))
        # Delivery to every subscriber takes a while when there are thousands of them.
        subscribers.send(("finish", truth, 60.0 + self.plan.subscribers / 100))
        results = await subscribers.receive(READY_TIMEOUT_S)
        return event_summary(results, len(truth.sequences)) | {
            "caught_up_at_start": sum(r[1] for r in ready)
        }


def capacity(steps: list[dict[str, Any]]) -> dict[str, Any]:
    holding = [s["offered_calls_per_s"] for s in steps if s["held"]]
    failing = [s["offered_calls_per_s"] for s in steps if not s["held"]]
    return {
        "calls_per_s": max(holding, default=0.0),
        "first_failing_rate": failing[0] if failing else None,
        "read_p99_limit_ms": READ_P99_LIMIT_MS,
    }


def targets(report: dict[str, Any], plan: Plan) -> dict[str, Any]:
    """The issue's targets for this scenario, checked against the figures."""
    phases = [p for p in report["phases"] if not plan.saturate or p.get("held")]
    read_limit = READ_P99_DURING_IMPORT_MS if plan.big_import_rows else READ_P99_LIMIT_MS
    events = report["events"]
    found = {
        "no_unexpected_errors": all(not p["errors"]["unexpected"] for p in report["phases"]),
        f"read_p99_below_{read_limit:.0f}ms": all(
            p["classes"]["read"]["p99_ms"] < read_limit for p in phases
        ),
        "every_subscriber_got_every_event": events["incomplete_subscribers"] == 0
        and events["out_of_order_or_duplicate"] == 0,
        "document_numbers_unique": report["document_numbers"]["duplicates"] == 0,
    }
    if not plan.big_import_rows:
        found[f"write_p99_below_{WRITE_P99_LIMIT_MS:.0f}ms"] = all(
            p["classes"]["write"]["p99_ms"] < WRITE_P99_LIMIT_MS for p in phases
        )
    if plan.subscribers:
        found["delivery_p99_within_2s"] = events["delivery_p99_ms"] <= DELIVERY_P99_LIMIT_MS
    return found


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]}


def plan_config(plan: Plan, workers: int) -> dict[str, Any]:
    return asdict(plan) | {"workers": workers}
