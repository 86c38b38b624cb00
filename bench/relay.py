"""The relay to NATS JetStream on PostgreSQL: throughput beside raw nats-py, and lag under load.

1. Throughput. N events are committed first; then, in this process and on uvloop,
   alternately: the relay (`Relay.run(once=True)`: read the events table, build the
   messages, publish them pipelined and fenced, to a new stream) and the baseline,
   raw nats-py `publish_async` of the same messages (bodies and headers built
   beforehand, not timed) to another new stream, waiting for every ack. Issue 21's
   target: relay >= 0.5 x raw.
2. Lag. A `masterdata relay` process runs on a second scratch database while this
   process commits events at a fixed rate (`--per-commit` to a transaction) and reads
   the stream with an ordered push consumer: lag = receive time - the event's
   occur_time (taken when its transaction began, so it includes the commit itself);
   after_commit = receive time - the writer's wall time right after COMMIT.
   Issue 21's target: p99 <= 1 s at 1,000 events/s.

    .venv/bin/python bench/relay.py [--quick] [--events N] [--rate R] [--seconds S]
                                     [--nats-url URL] [--admin-url postgresql://...]
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import nats
import uvloop
from nats.aio.msg import Msg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN_URL, emit, percentile, scratch_database

from masterdata.server.app import build_runtime
from masterdata.server.config import Settings
from masterdata.server.families.locations import LOCATION
from masterdata.server.relay.envelope import envelope
from masterdata.server.relay.loop import Relay
from masterdata.server.relay.settings import RelaySettings
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import record_event
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.location import LocationRow
from masterdata.v1 import events_pb2

ROUNDS = 2


async def open_runtime(dsn: str) -> tuple[Database, Runtime]:
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    settings = Settings.load(environ={}, database_url=url)
    db = await Database.open(settings)
    await migrate.upgrade(db.writer)
    return db, build_runtime(settings, db)


async def commit_locations(runtime: Runtime, count: int, tag: str) -> list[str]:
    """`count` location.created events in one transaction; the locations' ids."""
    async with runtime.unit_of_work(Caller(call_id=uuid.uuid4().hex[:16])) as uow:
        rows = [
            LocationRow(
                id=uuid.uuid4(),
                name=f"{tag} {uuid.uuid4().hex[:12]}",
                create_time=uow.now,
                update_time=uow.now,
                revision=1,
            )
            for _ in range(count)
        ]
        uow.session.add_all(rows)
        await uow.session.flush()
        for row in rows:
            record_event(uow, LOCATION, row, "created")
        await uow.commit()
    return [str(row.id) for row in rows]


def names(kind: str) -> tuple[str, str]:
    token = uuid.uuid4().hex[:8]
    return f"BENCH_{kind}_{token}".upper(), f"bench{kind}{token}"


async def relay_run(db: Database, nats_url: str, events: int) -> float:
    """Events/s of the relay publishing everything to a new stream."""
    stream, prefix = names("relay")
    settings = RelaySettings(nats_url=nats_url, stream=stream, subject_prefix=prefix)
    started = time.perf_counter()
    await Relay(db, settings, connect_timeout_s=5).run(once=True)
    elapsed = time.perf_counter() - started
    await check_and_delete(nats_url, stream, events)
    return events / elapsed


async def raw_run(messages: list[events_pb2.Event], nats_url: str) -> float:
    """Messages/s of raw publish_async of the same messages to a new stream."""
    stream, prefix = names("raw")
    envelopes = [envelope(event, prefix, "proto") for event in messages]
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[f"{prefix}.>"], duplicate_window=120)
    started = time.perf_counter()
    for item in envelopes:
        await js.publish_async(item.subject, item.body, headers=item.headers)
    await js.publish_async_completed()
    elapsed = time.perf_counter() - started
    await nc.close()
    await check_and_delete(nats_url, stream, len(envelopes))
    return len(envelopes) / elapsed


async def check_and_delete(nats_url: str, stream: str, expected: int) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    held = (await js.stream_info(stream)).state.messages
    await js.delete_stream(stream)
    await nc.close()
    if held != expected:
        raise SystemExit(f"{stream} holds {held} messages, not {expected}")


async def throughput(admin_url: str, nats_url: str, events: int) -> dict[str, Any]:
    async with scratch_database(admin_url) as dsn:
        db, runtime = await open_runtime(dsn)
        try:
            for start in range(0, events, 500):
                await commit_locations(runtime, min(500, events - start), "load")
            messages = await runtime.feed.store.select_events(gt=0, limit=events)
            relay, raw = [], []
            for _ in range(ROUNDS):
                relay.append(await relay_run(db, nats_url, events))
                raw.append(await raw_run(messages, nats_url))
        finally:
            await db.dispose()
    ratio = statistics.median(relay) / statistics.median(raw)
    return {
        "events": events,
        "relay_events_per_s": [round(x) for x in relay],
        "raw_publish_async_per_s": [round(x) for x in raw],
        "ratio_of_medians": round(ratio, 3),
        "target": ">= 0.5",
        "met": ratio >= 0.5,
    }


async def lag(
    admin_url: str, nats_url: str, rate: float, seconds: float, per_commit: int
) -> dict[str, Any]:
    stream, prefix = names("lag")
    async with scratch_database(admin_url) as dsn:
        db, runtime = await open_runtime(dsn)
        nc = await nats.connect(nats_url)
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{prefix}.>"], duplicate_window=120)
        lags: list[float] = []
        after_commit: list[float] = []
        committed: dict[str, float] = {}
        seen: list[int] = []
        progress = asyncio.Event()

        async def received(msg: Msg) -> None:
            now = time.time()
            event = events_pb2.Event.FromString(msg.data)
            lags.append(now - event.occur_time.ToDatetime().timestamp())
            if (at := committed.get(event.aggregate_id)) is not None:
                after_commit.append(now - at)
            seen.append(event.sequence)
            progress.set()

        await js.subscribe(f"{prefix}.>", stream=stream, ordered_consumer=True, cb=received)
        relay = await spawn_relay(dsn, nats_url, stream, prefix)
        try:
            # Warm-up: one event through, so the relay's start-up is not counted as lag.
            await commit_locations(runtime, 1, "warm-up")
            await progress.wait()
            lags.clear()
            seen.clear()
            written, write_s = await write_at(runtime, rate, seconds, per_commit, committed)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    while len(seen) < written:
                        progress.clear()
                        await progress.wait()
        finally:
            relay.terminate()
            await relay.wait()
            await js.delete_stream(stream)
            await nc.close()
            await db.dispose()
    lags.sort()
    after_commit.sort()
    p99 = percentile(lags, 0.99)
    return {
        "rate_asked": rate,
        "rate_written": round(written / write_s, 1),
        "events_per_commit": per_commit,
        "written": written,
        "received": len(seen),
        "in_order_once": seen == sorted(set(seen)),
        "lag_p50_ms": round(percentile(lags, 0.5) * 1000, 1),
        "lag_p99_ms": round(p99 * 1000, 1),
        "lag_max_ms": round((lags[-1] if lags else 0) * 1000, 1),
        "after_commit_p50_ms": round(percentile(after_commit, 0.5) * 1000, 1),
        "after_commit_p99_ms": round(percentile(after_commit, 0.99) * 1000, 1),
        "target": "p99 <= 1000 ms",
        "met": p99 <= 1.0 and len(seen) == written,
    }


async def spawn_relay(dsn: str, nats_url: str, stream: str, prefix: str) -> Any:
    env = {
        "PATH": "/usr/bin:/bin",
        "MASTERDATA_DATABASE_URL": dsn,
        "MASTERDATA_RELAY_NATS_URL": nats_url,
        "MASTERDATA_RELAY_STREAM": stream,
        "MASTERDATA_RELAY_SUBJECT_PREFIX": prefix,
        "MASTERDATA_LOG_LEVEL": "WARNING",
    }
    script = Path(sys.executable).parent / "masterdata"
    return await asyncio.create_subprocess_exec(str(script), "relay", env=env)


async def write_at(
    runtime: Runtime, rate: float, seconds: float, per_commit: int, committed: dict[str, float]
) -> tuple[int, float]:
    """Commit `per_commit` events every per_commit/rate s for `seconds`; events, time taken.

    `committed` gets each location's wall time right after its COMMIT.
    """
    commits = max(1, int(rate * seconds / per_commit))
    start = time.monotonic()
    for i in range(commits):
        await asyncio.sleep(max(0.0, start + i * per_commit / rate - time.monotonic()))
        ids = await commit_locations(runtime, per_commit, f"lag {i}")
        now = time.time()
        committed.update((key, now) for key in ids)
    return commits * per_commit, time.monotonic() - start


async def main(args: argparse.Namespace) -> None:
    report = {
        "nats_url": args.nats_url,
        "throughput": await throughput(args.admin_url, args.nats_url, args.events),
        "lag": await lag(args.admin_url, args.nats_url, args.rate, args.seconds, args.per_commit),
    }
    emit(report)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s written")
    parser.add_argument("--per-commit", type=int, default=10, help="events per transaction")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.events, arguments.seconds = 5_000, 5.0
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main(arguments))
