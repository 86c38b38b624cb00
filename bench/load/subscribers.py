"""Event subscribers that prove delivery: every committed event, once, in order.

Each subscriber process holds many SubscribeEvents streams (a few hundred per
connection), all starting after the same sequence. A subscriber keeps no list of
what it received (10,000 subscribers x 10,000 events would not fit): it checks
that sequences only grow and keeps their count, sum and sum of squares, which
the orchestrator compares with the truth read from ListEvents at the end. The
first few subscribers of each process keep every sequence, to name the missing
ones if the check fails. Delivery delay is receive time minus the event's
occur_time, in a 1 ms histogram over every delivery.

The server sends the same items to every subscriber at the same position, so a
process works out what it needs of each distinct item (its sequences, checksums
and occur times) once, keyed by the item's bytes, and a subscriber's work per
item does not grow with the events in it. Parsing and checking every event of
every item in every stream took the subscriber processes more than a core at
10,000 subscriptions, and that CPU was taken from the server under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import grpc
from grpc import aio

from masterdata.client.feed import FEED_BATCH_SIZE  # ask for batches as the SDK does
from masterdata.v1 import events_pb2, events_pb2_grpc

STREAMS_PER_CONNECTION = 250
SUBSCRIBE_METHOD = "/masterdata.v1.EventService/SubscribeEvents"
KEEP_FULL = 3
CATCH_UP_TIMEOUT_S = 180.0
RESUMABLE = (
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
)


@dataclass(frozen=True)
class Truth:
    """The events committed after the start sequence, as ListEvents reports them."""

    sequences: list[int]

    @property
    def head(self) -> int:
        return self.sequences[-1] if self.sequences else 0

    @property
    def checksum(self) -> tuple[int, int, int]:
        return len(self.sequences), sum(self.sequences), sum(s * s for s in self.sequences)


class Item:
    """What a subscriber needs of one stream item (compared by identity)."""

    __slots__ = (
        "count",
        "disorder",
        "first",
        "kind",
        "last",
        "occurred_ms",
        "sequences",
        "squares",
        "total",
    )

    def __init__(self, response: events_pb2.SubscribeEventsResponse) -> None:
        self.kind = response.WhichOneof("kind") or ""
        if self.kind == "events":
            events = list(response.events.events)
        elif self.kind == "event":
            events = [response.event]
        else:
            events = []
        sequences = tuple(event.sequence for event in events)
        self.sequences = sequences
        self.count = len(sequences)
        self.first = sequences[0] if sequences else 0
        self.last = sequences[-1] if sequences else 0
        self.total = sum(sequences)
        self.squares = sum(s * s for s in sequences)
        self.disorder = sum(b <= a for a, b in itertools.pairwise(sequences))
        self.occurred_ms = tuple(
            e.occur_time.seconds * 1000 + e.occur_time.nanos / 1e6 for e in events
        )


class Items:
    """Stream items by their bytes: each distinct item is parsed and summed once."""

    def __init__(self, limit: int = 4096) -> None:
        self._known: dict[bytes, Item] = {}
        self._limit = limit

    def __call__(self, data: bytes) -> Item:
        item = self._known.get(data)
        if item is None:
            if len(self._known) >= self._limit:
                self._known.clear()
            item = self._known[data] = Item(events_pb2.SubscribeEventsResponse.FromString(data))
        return item


def delay_histogram(arrivals: Counter[tuple[Item, int]]) -> Counter[int]:
    """Receive time minus occur time of every delivered event, in whole milliseconds."""
    delays: Counter[int] = Counter()
    for (item, received_ms), times in arrivals.items():
        for occurred_ms in item.occurred_ms:
            delays[max(0, int(received_ms - occurred_ms))] += times
    return delays


class Subscriber:
    """One resumable subscription and the checksums of what it received."""

    def __init__(self, subscribe: aio.UnaryStreamMultiCallable, after: int, keep: bool) -> None:
        self.subscribe = subscribe
        self.last = after
        self.count = self.total = self.squares = self.disorder = 0
        self.kept: array[int] | None = array("q") if keep else None
        self.caught_up = asyncio.Event()
        #: Set once `last` reaches `goal` (the head at the end of the run) or on an error.
        self.reached = asyncio.Event()
        self.goal = 0
        self.error = ""

    def expect(self, head: int) -> None:
        self.goal = head
        if self.last >= head or self.error:
            self.reached.set()

    def receive(self, item: Item, arrivals: Counter[tuple[Item, int]]) -> None:
        if not item.count:
            return
        if item.first <= self.last:
            self.disorder += 1
        self.disorder += item.disorder
        self.last = max(self.last, item.last)
        self.count += item.count
        self.total += item.total
        self.squares += item.squares
        if self.kept is not None:
            self.kept.extend(item.sequences)
        if self.goal and self.last >= self.goal:
            self.reached.set()
        arrivals[item, int(time.time() * 1000)] += 1

    async def run(self, arrivals: Counter[tuple[Item, int]], counters: Counter[str]) -> None:
        backoff = 0.05
        while True:
            request = events_pb2.SubscribeEventsRequest(
                after_sequence=self.last, max_batch_size=FEED_BATCH_SIZE
            )
            try:
                async for item in self.subscribe(request):
                    counters["messages"] += 1
                    if item.kind == "caught_up":
                        self.caught_up.set()
                    else:
                        self.receive(item, arrivals)
            except aio.AioRpcError as error:
                if error.code() not in RESUMABLE:
                    self.error = error.code().name
                    self.caught_up.set()
                    self.reached.set()
                    return
            counters["reconnects"] += 1
            await asyncio.sleep(random.uniform(0, backoff))
            backoff = min(backoff * 2, 2.0)

    def verdict(self, truth: Truth) -> dict[str, Any]:
        complete = (
            not self.error
            and not self.disorder
            and (self.count, self.total, self.squares) == truth.checksum
        )
        found: dict[str, Any] = {"complete": complete}
        if not complete and self.kept is not None:
            got, want = set(self.kept), set(truth.sequences)
            found["missing"] = sorted(want - got)[:20]
            found["unexpected"] = sorted(got - want)[:20]
        return found


async def subscriber_main(conn: Connection, target: str, count: int, after: int) -> None:
    connections = max(1, -(-count // STREAMS_PER_CONNECTION))
    channels = [
        aio.insecure_channel(target, options=[("bench.load.feed", i)]) for i in range(connections)
    ]
    items = Items()
    calls = [
        channel.unary_stream(
            SUBSCRIBE_METHOD,
            request_serializer=events_pb2.SubscribeEventsRequest.SerializeToString,
            response_deserializer=items,
        )
        for channel in channels
    ]
    subs = [Subscriber(calls[i % connections], after, i < KEEP_FULL) for i in range(count)]
    arrivals: Counter[tuple[Item, int]] = Counter()
    counters: Counter[str] = Counter()
    tasks = [asyncio.create_task(sub.run(arrivals, counters)) for sub in subs]
    loop = asyncio.get_running_loop()
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CATCH_UP_TIMEOUT_S):
                await asyncio.gather(*(sub.caught_up.wait() for sub in subs))
        conn.send(("ready", sum(sub.caught_up.is_set() and not sub.error for sub in subs)))
        _, truth, timeout_s = await loop.run_in_executor(None, conn.recv)
        for sub in subs:
            sub.expect(truth.head)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*(sub.reached.wait() for sub in subs))
        conn.send(report(subs, truth, delay_histogram(arrivals), counters))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(channel.close() for channel in channels))


def report(
    subs: list[Subscriber], truth: Truth, delays: Counter[int], counters: Counter[str]
) -> dict[str, Any]:
    verdicts = [sub.verdict(truth) for sub in subs]
    return {
        "subscribers": len(subs),
        "complete": sum(v["complete"] for v in verdicts),
        "out_of_order_or_duplicate": sum(sub.disorder for sub in subs),
        "deliveries": sum(sub.count for sub in subs),
        "errors": dict(Counter(sub.error for sub in subs if sub.error)),
        "reconnects": counters["reconnects"],
        "messages": counters["messages"],
        "delay_histogram_ms": dict(delays),
        "cpu_s": time.process_time(),
        "examples": [v for v in verdicts if not v["complete"] and "missing" in v][:3],
    }


def subscriber_process(conn: Connection, target: str, count: int, after: int) -> None:
    """Entry point of a spawned subscriber process."""
    asyncio.run(subscriber_main(conn, target, count, after))


async def head_sequence(channel: aio.Channel) -> int:
    """The feed's head now: a subscription matching nothing reports it when caught up."""
    stub = events_pb2_grpc.EventServiceStub(channel)
    request = events_pb2.SubscribeEventsRequest(aggregate_types=["bench.load.none"])
    call = stub.SubscribeEvents(request, timeout=120)
    try:
        async for item in call:
            if item.HasField("caught_up"):
                return int(item.caught_up.head_sequence)
    finally:
        call.cancel()
    raise RuntimeError("the feed ended before caught_up")


async def committed_after(channel: aio.Channel, after: int) -> Truth:
    """Every event sequence after `after`, from the audit trail (ListEvents)."""
    stub = events_pb2_grpc.EventServiceStub(channel)
    sequences: list[int] = []
    token = ""
    while True:
        page = await stub.ListEvents(
            events_pb2.ListEventsRequest(after_sequence=after, page_size=1000, page_token=token),
            timeout=120,
        )
        sequences.extend(event.sequence for event in page.events)
        token = page.next_page_token
        if not token:
            return Truth(sequences)
