"""FeedHub as the composition of its parts, without a database: what the reader
publishes reaches the stretches and the waves, and the hub's lifecycle ends them.

Each part has tests of its own: test_feed_tail.py, test_feed_retained.py,
test_feed_stretches.py, test_feed_fan_out.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from test_feed_tail import Listening, MemoryTail

from masterdata.server.events.hub import FeedHub
from masterdata.server.events.store import EventFilter

EVERYTHING = EventFilter()


def make_hub(table: MemoryTail, *, fan_out: bool = True) -> FeedHub:
    hub = FeedHub(table, poll_interval_s=60.0, batch_size=5, retained_events=10)  # type: ignore[arg-type]
    if fan_out:
        hub.fan_out.start()
    hub.tail.start()
    return hub


@pytest.fixture
async def table() -> MemoryTail:
    return MemoryTail()


@pytest.fixture
async def hub(table: MemoryTail) -> AsyncIterator[FeedHub]:
    hub = make_hub(table)
    hub.join()
    await hub.sync()
    yield hub
    hub.leave()
    await hub.stop()


async def commit(hub: FeedHub, table: MemoryTail, count: int = 1) -> None:
    table.commit(count)
    hub.hint()
    await hub.sync()


async def test_subscribers_at_one_position_share_one_stretch_until_the_next_batch(
    hub: FeedHub, table: MemoryTail
) -> None:
    await commit(hub, table, 4)
    first = hub.stretch_after(0, EVERYTHING, 10)
    assert first is not None and first.last == 4
    assert hub.stretch_after(0, EventFilter(), 10) is first  # built and serialized once
    await commit(hub, table)
    again = hub.stretch_after(0, EVERYTHING, 10)
    assert again is not first and again is not None and again.last == 5


async def test_a_move_of_the_head_wakes_the_waiting_subscribers(
    hub: FeedHub, table: MemoryTail
) -> None:
    waves = hub.waves
    waiting = asyncio.create_task(hub.next_wave(hub.head, waves, 10.0))
    await asyncio.sleep(0)
    await commit(hub, table)
    assert await asyncio.wait_for(waiting, 10.0)
    assert hub.waves > waves and hub.head == 1


async def test_a_subscriber_that_times_out_leaves_the_waiters(hub: FeedHub) -> None:
    assert not await hub.next_wave(hub.head, hub.waves, 0.01)
    assert not hub.fan_out.waiting


async def test_a_subscriber_waits_for_the_next_wave_unless_it_missed_one(
    table: MemoryTail,
) -> None:
    """Events published while a subscriber was sending come in its next item, at the
    next wave; but if a wave passed while it was busy, it takes them at once."""
    hub = make_hub(table, fan_out=False)
    hub.join()
    try:
        await commit(hub, table, 2)
        seen = hub.waves
        await commit(hub, table)  # the head passed position 2, no wave has begun yet
        assert hub.head == 3
        assert not await hub.next_wave(2, seen, 0.01), "must wait for the wave"
        hub.fan_out.start()
        waiting = asyncio.create_task(hub.next_wave(2, seen, 10.0))
        await asyncio.sleep(0)
        await commit(hub, table)
        assert await asyncio.wait_for(waiting, 10.0)
        assert hub.waves > seen
        assert await asyncio.wait_for(hub.next_wave(2, seen, 10.0), 0.1)  # missed a wave
    finally:
        hub.leave()
        await hub.stop()


async def test_resync_releases_the_waiting_subscribers(hub: FeedHub, table: MemoryTail) -> None:
    await commit(hub, table, 3)
    waiting = asyncio.create_task(hub.next_wave(hub.head, hub.waves, 10.0))
    await asyncio.sleep(0)
    table.events.clear()
    await hub.resync()
    assert await asyncio.wait_for(waiting, 1.0), "True comes early: callers check the head"
    assert hub.head == 0 and hub.stretch_after(0, EVERYTHING, 10) is None


async def test_stop_ends_waits_and_waits_for_subscribers_to_leave(table: MemoryTail) -> None:
    hub = make_hub(table)
    hub.join()
    await hub.sync()
    waiting = asyncio.create_task(hub.next_wave(hub.head, hub.waves, 10.0))
    await asyncio.sleep(0)
    stopping = asyncio.create_task(hub.stop())
    assert await asyncio.wait_for(waiting, 1.0)
    assert hub.closing and await hub.next_wave(0, hub.waves, 10.0), "closing: at once"
    await asyncio.sleep(0.05)
    assert not stopping.done(), "a subscriber is still streaming"
    hub.leave()
    await asyncio.wait_for(stopping, 1.0)
    await asyncio.wait_for(hub.sync(), 0.5)  # a late subscription is not kept waiting


async def test_the_hub_hands_its_listener_and_calls_to_the_parts(table: MemoryTail) -> None:
    hub = FeedHub(table, poll_interval_s=60.0, batch_size=5, retained_events=10)  # type: ignore[arg-type]
    assert hub.listener is None and hub.calls is None and hub.pages is table
    listener = Listening(connected=True)
    hub.listener = listener  # type: ignore[assignment]  # as api/events.py attaches it
    assert hub.listener is listener and hub.tail.listener is listener
    assert not hub.ready and hub.head == 0 and hub.subscribers == 0
    assert hub.queries == 0
