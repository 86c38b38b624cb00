"""SubscribeEvents on both backends: catch-up, caught_up, live, filters, heartbeats,
resume, cancellation, shutdown, slow subscribers and shared reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from feed_support import (
    assert_exactly_once_in_order,
    hub_of,
    list_all,
    subscribe,
    subscribed,
    write_location,
)
from grpc import aio
from support import eventually, expect_failure, make_settings

from masterdata.server.app import App, build
from masterdata.server.events.hub import WAKE_COHORT, FeedHub
from masterdata.server.events.store import EventFilter
from masterdata.server.events.subscription import Subscription
from masterdata.v1 import events_pb2, events_pb2_grpc, location_pb2_grpc
from masterdata.v1 import location_pb2 as loc


@pytest.fixture
async def feed(app: App, db: object) -> FeedHub:
    """The session server's hub, re-synchronised with the freshly emptied table."""
    hub = hub_of(app)
    await hub.resync()
    return hub


@pytest.fixture
async def own_app(database_url: str, feed: FeedHub) -> AsyncIterator[App]:
    """A second server on the same database with short intervals and tiny batches."""
    settings = make_settings(
        database_url,
        heartbeat_interval_s=0.2,
        feed_poll_interval_s=0.2,
        feed_batch_size=5,
        feed_retained_events=10,
    )
    server = build(settings)
    await server.start()
    yield server
    if not hub_of(server).closing:
        await server.stop(0)


@pytest.fixture
async def own_channel(own_app: App) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(f"127.0.0.1:{own_app.port}") as channel:
        yield channel


async def create(channel: aio.Channel, name: str = "yard") -> loc.Location:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    request = loc.CreateLocationRequest(location=loc.Location(name=name))
    return (await stub.CreateLocation(request)).location


async def test_catch_up_then_one_caught_up_then_live(channel, feed: FeedHub) -> None:
    for i in range(3):
        await create(channel, f"before {i}")
    async with subscribed(channel) as sub:
        await sub.wait_until(lambda r: r.caught_up)
        assert sub.kinds == ["event"] * 3 + ["caught_up"] and sub.caught_up == [3]
        await create(channel, "after")
        await sub.wait_for_sequence(4)
    assert sub.kinds == ["event"] * 3 + ["caught_up", "event"]
    assert sub.sequences == [1, 2, 3, 4]
    assert [e.resource.type_url for e in sub.events] == [
        "type.googleapis.com/masterdata.v1.Location"
    ] * 4
    assert loc.Location.FromString(sub.events[-1].resource.value).name == "after"


async def test_filters_are_applied_on_the_server(channel, feed: FeedHub) -> None:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    async with (
        subscribed(channel, aggregate_types=["location"]) as locations,
        subscribed(channel, aggregate_types=["commodity"]) as commodities,
        subscribed(channel, event_types=["location.deleted"]) as deletions,
    ):
        for sub in (locations, commodities, deletions):
            await sub.wait_until(lambda r: r.caught_up)
        made = await create(channel, "a")
        await stub.DeleteLocation(loc.DeleteLocationRequest(id=made.id))
        await locations.wait_for_sequence(2)
        await deletions.wait_for_sequence(2)
    assert [e.event_type for e in locations.events] == ["location.created", "location.deleted"]
    assert [e.event_type for e in deletions.events] == ["location.deleted"]
    assert commodities.events == []


async def test_filters_in_catch_up_and_from_a_resume_point(channel, feed: FeedHub) -> None:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    made = [await create(channel, f"l{i}") for i in range(4)]
    for item in made:
        await stub.DeleteLocation(loc.DeleteLocationRequest(id=item.id))
    async with subscribed(channel, after_sequence=5, event_types=["location.deleted"]) as sub:
        await sub.wait_until(lambda r: r.caught_up)
    assert sub.sequences == [6, 7, 8] and sub.caught_up == [8]


async def test_heartbeat_after_idle_carries_the_head(own_channel, own_app: App) -> None:
    async with subscribed(own_channel, aggregate_types=["commodity"]) as sub:
        await sub.wait_until(lambda r: len(r.heartbeats) >= 2, timeout_s=3)
        assert sub.kinds[0] == "caught_up" and sub.heartbeats[-1].head_sequence == 0
        await create(own_channel)  # does not match: no event, but the head moves
        await sub.wait_until(lambda r: r.heartbeats[-1].head_sequence == 1, timeout_s=3)
    assert sub.events == []
    assert all(h.time.seconds > 0 for h in sub.heartbeats)


async def test_resume_from_last_sequence_sees_everything_once(channel, feed: FeedHub) -> None:
    for i in range(5):
        await create(channel, f"first {i}")
    async with subscribed(channel) as sub:
        await sub.wait_for_sequence(3)
    last = sub.sequences[-1]
    for i in range(4):
        await create(channel, f"second {i}")
    async with subscribed(channel, after_sequence=last) as resumed:
        await resumed.wait_for_sequence(9)
        await create(channel, "live")
        await resumed.wait_for_sequence(10)
    expected = [e.sequence for e in await list_all(channel)]
    assert_exactly_once_in_order(
        sub.sequences[: sub.sequences.index(last) + 1] + resumed.sequences, expected
    )


async def test_cancelling_a_subscriber_frees_it_at_once(channel, feed: FeedHub) -> None:
    before = feed.subscribers
    sub = subscribe(channel)
    await sub.wait_until(lambda r: r.caught_up)
    assert feed.subscribers == before + 1
    await sub.cancel()
    await eventually(lambda: feed.subscribers == before, within_s=1.0)


async def test_shutdown_ends_streams_with_unavailable(own_channel, own_app: App) -> None:
    sub = subscribe(own_channel)
    await sub.wait_until(lambda r: r.caught_up)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await own_app.stop(grace=5.0)
    error = await sub.ended(timeout_s=3)
    assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
    assert loop.time() - started < 3.0, "the stream must end before the grace period runs out"
    assert hub_of(own_app).subscribers == 0


async def test_failed_write_emits_nothing(channel, feed: FeedHub) -> None:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    async with subscribed(channel) as sub:
        await sub.wait_until(lambda r: r.caught_up)
        bad = loc.CreateLocationRequest(location=loc.Location(name="x", latitude=95))
        await expect_failure(stub.CreateLocation(bad), grpc.StatusCode.INVALID_ARGUMENT)
        await create(channel, "good")
        await sub.wait_for_sequence(1)
    assert [loc.Location.FromString(e.resource.value).name for e in sub.events] == ["good"]
    assert len(await list_all(channel)) == 1


async def test_slow_subscriber_reads_the_table_at_its_own_pace(own_app: App) -> None:
    """Paused far behind the few batches the hub keeps, a subscriber catches up from
    the table, and the hub's memory stays bounded by its retained events."""
    hub = hub_of(own_app)
    stream = Subscription(hub, EventFilter(), 0, heartbeat_s=60).responses()
    first = await anext(stream)
    assert first.WhichOneof("kind") == "caught_up"
    for i in range(40):  # hub batch size 5, ten events retained
        await write_location(own_app.runtime, f"burst {i}")
    await eventually(lambda: hub.head >= 40, within_s=5.0)
    assert sum(len(batch.events) for batch in hub.retained.batches) <= 10
    queries = hub.pages.queries
    received = []
    for _ in range(40):  # messages from the table; serialized ones from the hub's batches
        item = await anext(stream)
        if isinstance(item, bytes):
            item = events_pb2.SubscribeEventsResponse.FromString(item)
        received.append(item.event.sequence)
    await stream.aclose()
    assert received == list(range(1, 41))
    assert hub.pages.queries > queries, "a lagging subscriber must read the table itself"


async def test_caught_up_subscribers_share_one_read_per_batch(channel, feed: FeedHub) -> None:
    subs = [subscribe(channel) for _ in range(50)]
    try:
        for sub in subs:
            await sub.wait_until(lambda r: r.caught_up)
        queries = feed.queries
        for i in range(10):
            await create(channel, f"fan-out {i}")
            for sub in subs:
                await sub.wait_for_sequence(i + 1)
        # One read per new batch (plus at most a poll or a duplicate hint), whatever
        # the number of subscribers: 50 subscribers reading for themselves would be 500.
        assert feed.queries - queries <= 20
    finally:
        for sub in subs:
            await sub.cancel()


async def test_waves_of_many_cohorts_deliver_every_event_once_in_order(
    app: App, channel, feed: FeedHub
) -> None:
    """More subscribers than two cohorts, batched and not, while writers race the
    waves that wake them: each gets every event exactly once, in order."""
    target = f"127.0.0.1:{app.port}"
    channels = [aio.insecure_channel(target, options=[("test.cohorts", i)]) for i in range(3)]
    count = 2 * WAKE_COHORT + 50
    subs = [
        subscribe(channels[i % 3], **({"max_batch_size": 7} if i % 2 else {})) for i in range(count)
    ]
    try:
        for sub in subs:
            await sub.wait_until(lambda r: r.caught_up, timeout_s=30)
        waves = feed.waves
        for burst in range(3):
            await asyncio.gather(*(create(channel, f"wave {burst}.{i}") for i in range(10)))
        expected = [event.sequence for event in await list_all(channel)]
        assert len(expected) == 30
        for sub in subs:
            await sub.wait_for_sequence(expected[-1], timeout_s=30)
            assert_exactly_once_in_order(sub.sequences, expected)
        assert feed.waves > waves
    finally:
        for sub in subs:
            await sub.cancel()
        await asyncio.gather(*(c.close() for c in channels))


async def test_batches_carry_runs_of_consecutive_events(own_channel, own_app: App) -> None:
    """With max_batch_size, catch-up and live events arrive as `events` items of at
    most that many events: every event once, in order, and `caught_up` between."""
    for i in range(23):
        await write_location(own_app.runtime, f"before {i}")
    stub = events_pb2_grpc.EventServiceStub(own_channel)
    call = stub.SubscribeEvents(events_pb2.SubscribeEventsRequest(max_batch_size=4))
    kinds: list[str] = []
    runs: list[list[int]] = []
    async for item in call:
        kinds.append(item.WhichOneof("kind"))
        if item.HasField("caught_up"):
            assert item.caught_up.head_sequence == 23
            for i in range(17):
                await write_location(own_app.runtime, f"after {i}")
        elif item.HasField("events"):
            runs.append([e.sequence for e in item.events.events])
            if runs[-1][-1] == 40:
                break
    call.cancel()
    assert set(kinds) == {"events", "caught_up"} and kinds.count("caught_up") == 1
    assert all(1 <= len(run) <= 4 for run in runs)
    assert [sequence for run in runs for sequence in run] == list(range(1, 41))
    assert max(len(run) for run in runs) == 4


@pytest.mark.parametrize(
    "request_fields",
    [
        {"max_batch_size": -1},
        {"max_batch_size": 1001},
        {"after_sequence": -1},
        {"event_types": [f"t{i}" for i in range(101)]},
        {"aggregate_types": [f"a{i}" for i in range(101)]},
    ],
)
async def test_bad_subscription_is_invalid_argument(channel, request_fields: dict) -> None:
    stub = events_pb2_grpc.EventServiceStub(channel)
    call = stub.SubscribeEvents(events_pb2.SubscribeEventsRequest(**request_fields))
    await expect_failure(call.read(), grpc.StatusCode.INVALID_ARGUMENT)


async def test_subscribing_without_a_database_is_unavailable() -> None:
    settings = make_settings("postgresql+asyncpg://root@127.0.0.1:1/none", connect_timeout_s=1.0)
    server = build(settings)
    await server.start()  # the hub does not need the database to start
    try:
        async with aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = events_pb2_grpc.EventServiceStub(channel)
            call = stub.SubscribeEvents(events_pb2.SubscribeEventsRequest(), timeout=10)
            await expect_failure(call.read(), grpc.StatusCode.UNAVAILABLE)
    finally:
        await server.stop(0)
