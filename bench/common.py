"""Shared benchmark machinery: closed-loop load at fixed concurrency, latency stats, JSON.

Every benchmark prints one JSON document in which each figure stands beside a
baseline measured in the same run, with their ratio.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import asyncpg
import grpc
from grpc import aio

from masterdata.server.app import App, build
from masterdata.server.config import Settings
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database


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


ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str = ADMIN_URL) -> AsyncIterator[str]:
    """A new empty PostgreSQL database beside `admin_url`'s; its DSN, dropped afterwards."""
    admin = await asyncpg.connect(admin_url, timeout=5)
    name = f"masterdata_bench_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@contextlib.asynccontextmanager
async def running_server(dsn: str, **settings: Any) -> AsyncIterator[App]:
    """A migrated database and an in-process server on an ephemeral port."""
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    config = Settings.load(environ={}, database_url=url, listen="127.0.0.1:0", **settings)
    db = Database.connect(config)
    await migrate.upgrade(db.writer)
    app = build(config, db)
    await app.start()
    try:
        yield app
    finally:
        await app.stop(0)


@contextlib.asynccontextmanager
async def noop_server(
    options: Sequence[tuple[str, Any]] = (),
    methods: Mapping[str, Callable[[bytes, aio.ServicerContext], Awaitable[bytes]]] | None = None,
) -> AsyncIterator[int]:
    """The gRPC baseline: `/bench.Noop/Call` returns an empty message at once; `methods`
    are served beside it (raw bytes in and out). Yields its port."""

    async def call(_request: bytes, _context: aio.ServicerContext) -> bytes:
        return b""

    server = aio.server(options=list(options))
    handlers = {
        name: grpc.unary_unary_rpc_method_handler(behaviour)
        for name, behaviour in {"Call": call, **(methods or {})}.items()
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Noop", handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield port
    finally:
        await server.stop(0)
