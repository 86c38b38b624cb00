"""The event feed at scale: N subscribers of one server process on PostgreSQL.

For each scenario (N = 1,000 at 10 events/s, N = 10,000 at 1 event/s) an in-process
server runs here while a writer commits one event at a time through the unit of
work at the given rate; the subscribers run in separate processes (one core is not
enough for both ends). Reported: commit-to-delivery latency p50/p99 (receive wall
time minus the writer's wall time right after COMMIT), server RSS and RSS per
subscriber, database statements of the feed per event, and whether every
subscriber received every event exactly once, in order. Clients reconnect with
jittered backoff when a call is CANCELLED or UNAVAILABLE, and count it.

Baseline, same run: the same number of idle open server streams of a no-op
grpc.aio handler (one message, then wait), in a fresh server process: RSS per stream.

    .venv/bin/python bench/event_feed.py [--quick] [--url postgresql://...] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing as mp
import random
import sys
import time
import uuid
from array import array
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import asyncpg
import grpc
from grpc import aio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ADMIN_URL, emit, percentile, running_server, scratch_database

SCENARIOS = ((1000, 10.0), (10_000, 1.0))
QUICK = ((100, 10.0), (400, 1.0))
STREAMS_PER_CHANNEL = 250
SUBSCRIBERS_PER_PROCESS = 5000
RETRY = (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED)
NOOP_METHOD = "/bench.Noop/Hold"


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def channels_for(target: str, streams: int) -> list[aio.Channel]:
    """Enough distinct connections (a channel arg makes each its own subchannel)."""
    count = max(1, -(-streams // STREAMS_PER_CHANNEL))
    return [aio.insecure_channel(target, options=[("bench.connection", i)]) for i in range(count)]


# ---- subscriber processes --------------------------------------------------------


class Subscriber:
    """One feed subscription that resumes after CANCELLED/UNAVAILABLE with backoff."""

    def __init__(self, channel: aio.Channel, counters: dict[str, int]) -> None:
        from masterdata.v1 import events_pb2_grpc

        self.stub = events_pb2_grpc.EventServiceStub(channel)
        self.counters = counters
        self.sequences: array[int] = array("q")
        self.times: array[float] = array("d")
        self.caught_up = asyncio.Event()

    async def run(self) -> None:
        from masterdata.v1 import events_pb2

        backoff = 0.05
        while True:
            after = self.sequences[-1] if self.sequences else 0
            try:
                call = self.stub.SubscribeEvents(
                    events_pb2.SubscribeEventsRequest(after_sequence=after)
                )
                async for item in call:
                    if item.HasField("event"):
                        self.times.append(time.time())
                        self.sequences.append(item.event.sequence)
                    elif item.HasField("caught_up"):
                        self.caught_up.set()
            except aio.AioRpcError as error:
                if error.code() not in RETRY:
                    raise
            self.counters["reconnects"] += 1
            await asyncio.sleep(random.uniform(0, backoff))
            backoff = min(backoff * 2, 2.0)


async def noop_stream(
    channel: aio.Channel, opened: asyncio.Event, counters: dict[str, int]
) -> None:
    hold = channel.unary_stream(NOOP_METHOD, request_serializer=bytes, response_deserializer=bytes)
    while True:
        try:
            async for _ in hold(b""):
                opened.set()
        except aio.AioRpcError as error:
            if error.code() not in RETRY:
                raise
        counters["reconnects"] += 1
        await asyncio.sleep(random.uniform(0, 0.2))


async def client_main(conn: Connection, target: str, streams: int, mode: str) -> None:
    channels = channels_for(target, streams)
    counters = {"reconnects": 0}
    loop = asyncio.get_running_loop()
    if mode == "noop":
        events = [asyncio.Event() for _ in range(streams)]
        tasks = [
            asyncio.create_task(noop_stream(channels[i % len(channels)], events[i], counters))
            for i in range(streams)
        ]
    else:
        subs = [Subscriber(channels[i % len(channels)], counters) for i in range(streams)]
        events = [sub.caught_up for sub in subs]
        tasks = [asyncio.create_task(sub.run()) for sub in subs]
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(120):
            await asyncio.gather(*(e.wait() for e in events))
    conn.send(("ready", sum(e.is_set() for e in events), counters["reconnects"]))
    _, last, commits = await loop.run_in_executor(None, conn.recv)
    if mode != "noop":
        await _wait_for(subs, last, timeout_s=60)
        conn.send(("result", summarise(subs, commits), counters["reconnects"]))
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()


async def _wait_for(subs: list[Subscriber], last: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(sub.sequences and sub.sequences[-1] >= last for sub in subs):
            return
        await asyncio.sleep(0.1)


def summarise(subs: list[Subscriber], commits: dict[int, float]) -> dict[str, Any]:
    """Latencies of every delivery, and who missed or repeated an event."""
    expected = sorted(commits)
    latencies = array("d")
    incomplete = 0
    for sub in subs:
        if list(sub.sequences) != expected:
            incomplete += 1
        for sequence, received in zip(sub.sequences, sub.times, strict=True):
            if sequence in commits:
                latencies.append(received - commits[sequence])
    return {"latencies": latencies.tobytes(), "incomplete": incomplete}


def client_process(conn: Connection, target: str, streams: int, mode: str) -> None:
    asyncio.run(client_main(conn, target, streams, mode))


# ---- the no-op baseline server ---------------------------------------------------


async def noop_server_main(conn: Connection, options: list[tuple[str, int]]) -> None:
    async def hold(_request: bytes, _context: aio.ServicerContext) -> AsyncIterator[bytes]:
        yield b"open"
        await asyncio.Event().wait()

    server = aio.server(options=options)
    handler = grpc.unary_stream_rpc_method_handler(
        hold, request_deserializer=bytes, response_serializer=bytes
    )
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("bench.Noop", {"Hold": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    loop = asyncio.get_running_loop()
    gc.collect()
    conn.send((port, rss_kib()))
    await loop.run_in_executor(None, conn.recv)
    gc.collect()
    conn.send(rss_kib())
    await loop.run_in_executor(None, conn.recv)
    await server.stop(0)


def noop_server_process(conn: Connection, options: list[tuple[str, int]]) -> None:
    asyncio.run(noop_server_main(conn, options))


# ---- orchestration -----------------------------------------------------------


class Clients:
    """Subscriber processes for one scenario, driven over pipes."""

    def __init__(self, target: str, streams: int, mode: str) -> None:
        ctx = mp.get_context("spawn")
        per = max(1, -(-streams // SUBSCRIBERS_PER_PROCESS))
        counts = [streams // per + (1 if i < streams % per else 0) for i in range(per)]
        self.pipes: list[Connection] = []
        self.processes = []
        for count in counts:
            mine, theirs = ctx.Pipe()
            process = ctx.Process(target=client_process, args=(theirs, target, count, mode))
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)

    async def receive(self) -> list[tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        return list(await asyncio.gather(*(loop.run_in_executor(None, p.recv) for p in self.pipes)))

    def send(self, message: tuple[Any, ...]) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def join(self) -> None:
        for process in self.processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()


async def baseline(streams: int, options: list[tuple[str, int]]) -> dict[str, Any]:
    """RSS per idle open stream of a no-op grpc.aio server-streaming handler."""
    ctx = mp.get_context("spawn")
    mine, theirs = ctx.Pipe()
    server = ctx.Process(target=noop_server_process, args=(theirs, options))
    server.start()
    loop = asyncio.get_running_loop()
    port, before = await loop.run_in_executor(None, mine.recv)
    clients = Clients(f"127.0.0.1:{port}", streams, "noop")
    ready = await clients.receive()
    mine.send("measure")
    after = await loop.run_in_executor(None, mine.recv)
    clients.send(("stop", 0, {}))
    clients.join()
    mine.send("stop")
    server.join(timeout=30)
    return {
        "streams_open": sum(r[1] for r in ready),
        "reconnects": sum(r[2] for r in ready),
        "server_rss_mib": round(after / 1024, 1),
        "rss_per_stream_kib": round((after - before) / streams, 2),
    }


async def write_events(runtime: Any, rate: float, seconds: float, dsn: str) -> dict[int, float]:
    """Commit one location.created per 1/rate s; sequence -> wall time after COMMIT."""
    from masterdata.server.families.locations import LOCATION
    from masterdata.server.resources.caller import Caller
    from masterdata.server.resources.standard import record_event
    from masterdata.server.storage.models.location import LocationRow

    lookup = await asyncpg.connect(dsn)
    commits: dict[int, float] = {}
    start = time.monotonic()
    for i in range(max(1, int(rate * seconds))):
        await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
        row_id = uuid.uuid4()
        async with runtime.unit_of_work(Caller(call_id=f"bench{i}")) as uow:
            row = LocationRow(
                id=row_id, name=f"bench {i}", create_time=uow.now, update_time=uow.now, revision=1
            )
            uow.session.add(row)
            await uow.session.flush()
            record_event(uow, LOCATION, row, "created")
            await uow.commit()
        committed = time.time()
        sequence = await lookup.fetchval(
            "SELECT sequence FROM events WHERE aggregate_id = $1", row_id
        )
        commits[int(sequence)] = committed
    await lookup.close()
    return commits


async def scenario(url: str, streams: int, rate: float, seconds: float) -> dict[str, Any]:

    async with running_server(url) as app:
        hub = app.runtime.feed
        gc.collect()
        rss_before = rss_kib()
        clients = Clients(f"127.0.0.1:{app.port}", streams, "feed")
        ready = await clients.receive()
        gc.collect()
        rss_after = rss_kib()
        queries = hub.queries
        commits = await write_events(app.runtime, rate, seconds, url)
        clients.send(("finish", max(commits), commits))
        results = await clients.receive()
        clients.join()
        feed_queries = hub.queries - queries
    return report(streams, rate, ready, results, commits, feed_queries, rss_before, rss_after)


def report(
    streams: int,
    rate: float,
    ready: list[tuple[Any, ...]],
    results: list[tuple[Any, ...]],
    commits: dict[int, float],
    feed_queries: int,
    rss_before: int,
    rss_after: int,
) -> dict[str, Any]:
    latencies = array("d")
    for _, summary, _ in results:
        latencies.frombytes(summary["latencies"])
    ordered = sorted(latencies)
    deliveries = streams * len(commits)
    return {
        "subscribers": streams,
        "events_per_s": rate,
        "events": len(commits),
        "subscribers_caught_up": sum(r[1] for r in ready),
        "deliveries": len(ordered),
        "deliveries_expected": deliveries,
        "subscribers_missing_or_repeating": sum(s["incomplete"] for _, s, _ in results),
        "reconnects": sum(r[2] for r in results),
        "latency_p50_ms": round(percentile(ordered, 0.50) * 1000, 1),
        "latency_p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
        "latency_max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 1),
        "feed_queries_per_event": round(feed_queries / max(1, len(commits)), 2),
        "server_rss_mib": round(rss_after / 1024, 1),
        "rss_per_subscriber_kib": round((rss_after - rss_before) / streams, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--url", default=ADMIN_URL, help="PostgreSQL admin URL (asyncpg)")
    parser.add_argument("--seconds", type=float, default=None, help="writing time per scenario")
    args = parser.parse_args()
    from masterdata.server.config import Settings

    seconds = args.seconds or (3.0 if args.quick else 30.0)
    options = Settings.load(environ={}).grpc_server_options()
    runs = []
    for streams, rate in QUICK if args.quick else SCENARIOS:
        noop = await baseline(streams, options)
        async with scratch_database(args.url) as url:
            feed = await scenario(url, streams, rate, seconds)
        ratio = feed["rss_per_subscriber_kib"] / noop["rss_per_stream_kib"]
        runs.append({"feed": feed, "baseline_noop_streams": noop, "rss_ratio": round(ratio, 2)})
    emit({"benchmark": "event_feed", "quick": args.quick, "scenarios": runs})


if __name__ == "__main__":
    asyncio.run(main())
