"""FeedHub without a database: retained batches, shared serialized stretches, and the
fan-out that wakes subscribers a cohort at a time."""

from __future__ import annotations

import asyncio

import pytest
from support import record_sleeps

from masterdata.server.events import hub as hub_module
from masterdata.server.events.hub import WAKE_COHORT, WAVE_REST, Batch, FeedHub
from masterdata.server.events.store import EventFilter
from masterdata.server.resources.activity import UnaryCalls
from masterdata.v1 import events_pb2

EVERYTHING = EventFilter()
#: The name of the fan-out task whose pauses are recorded.
FAN_OUT = "fan-out-under-test"


def event(sequence: int, aggregate_type: str = "Location") -> events_pb2.Event:
    return events_pb2.Event(sequence=sequence, aggregate_type=aggregate_type)


def hub_with(*ranges: tuple[int, int], calls: UnaryCalls | None = None) -> FeedHub:
    hub = FeedHub(None, poll_interval_s=1.0, batch_size=5, retained_events=10, calls=calls)  # type: ignore[arg-type]
    for after, last in ranges:
        hub._retain(Batch(after, last, tuple(event(s) for s in range(after + 1, last + 1))))
        hub.head = last
    return hub


def sequences(items: tuple[bytes, ...]) -> list[list[int]]:
    """The sequences of each serialized stream item."""
    found = []
    for item in items:
        response = events_pb2.SubscribeEventsResponse.FromString(item)
        if response.WhichOneof("kind") == "event":
            found.append([response.event.sequence])
        else:
            found.append([e.sequence for e in response.events.events])
    return found


def test_a_batched_stretch_runs_from_the_position_to_the_newest_event() -> None:
    hub = hub_with((0, 2), (2, 5), (5, 9))
    stretch = hub.stretch_after(3, EVERYTHING, 3)
    assert stretch is not None and stretch.last == 9
    assert sequences(stretch.items) == [[4, 5, 6], [7, 8, 9]]
    assert hub.stretch_after(9, EVERYTHING, 3) is None  # nothing newer


def test_an_unbatched_stretch_is_one_retained_batch_an_item_per_event() -> None:
    hub = hub_with((0, 2), (2, 5), (5, 9))
    stretch = hub.stretch_after(0, EVERYTHING, 1)
    assert stretch is not None and stretch.last == 2
    assert sequences(stretch.items) == [[1], [2]]


def test_a_position_before_the_retained_batches_is_not_covered() -> None:
    hub = hub_with((0, 2), (2, 5), (5, 9), (9, 12))  # ten events retained: (2, 5) onwards
    assert hub.stretch_after(1, EVERYTHING, 10) is None  # events 2.. must come from the table
    stretch = hub.stretch_after(2, EVERYTHING, 10)
    assert stretch is not None and sequences(stretch.items) == [list(range(3, 13))]


def test_retention_counts_events_and_always_keeps_the_newest_batch() -> None:
    hub = hub_with(*((n, n + 1) for n in range(30)))  # a commit at a time: batches of one
    assert [b.last for b in hub._batches] == list(range(21, 31))
    hub = hub_with((0, 2), (2, 20))  # one batch over the limit on its own
    assert [b.last for b in hub._batches] == [20]


def test_subscribers_at_one_position_share_one_stretch_until_the_next_batch() -> None:
    hub = hub_with((0, 4))
    first = hub.stretch_after(0, EVERYTHING, 10)
    assert hub.stretch_after(0, EventFilter(), 10) is first  # built and serialized once
    assert hub.stretch_after(0, EVERYTHING, 2) is not first  # another item size
    asyncio.run(hub._publish([event(5)]))
    again = hub.stretch_after(0, EVERYTHING, 10)
    assert again is not first and again is not None and again.last == 5


def test_stretches_are_remembered_up_to_a_number_of_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hub = hub_with((0, 4))
    first = hub.stretch_after(0, EVERYTHING, 10)
    assert first is not None
    monkeypatch.setattr(hub_module, "MAX_STRETCH_BYTES", sum(map(len, first.items)))
    assert hub.stretch_after(0, EVERYTHING, 10) is first
    other = hub.stretch_after(2, EVERYTHING, 10)  # past the bound: built, not kept
    assert other is not None and hub.stretch_after(2, EVERYTHING, 10) is not other


def test_a_stretch_keeps_to_its_filter_and_still_moves_past_what_it_skips() -> None:
    hub = hub_with()
    asyncio.run(hub._publish([event(1), event(2, "Commodity"), event(3)]))
    stretch = hub.stretch_after(0, EventFilter(aggregate_types=frozenset({"Commodity"})), 10)
    assert stretch is not None and stretch.last == 3
    assert sequences(stretch.items) == [[2]]


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the fan-out asks of asyncio.sleep besides its bare yields."""
    return record_sleeps(monkeypatch, FAN_OUT, keep_zero=False)


async def fan_out_once(hub: FeedHub, subscribers: int) -> list[int]:
    """Wake `subscribers` waiters with one publication; the order in which they ran."""
    ran: list[int] = []

    async def subscriber(number: int) -> None:
        assert await hub.next_wave(hub.head, hub.waves, 10.0)
        ran.append(number)
        for _ in range(200):  # some work per woken subscriber, so a cohort takes time
            pass

    tasks = [asyncio.create_task(subscriber(n)) for n in range(subscribers)]
    await asyncio.sleep(0)
    assert len(hub._waiters) == subscribers
    fan_out = asyncio.create_task(hub._fan_out(), name=FAN_OUT)
    await hub._publish([event(hub.head + 1)])
    await asyncio.wait_for(asyncio.gather(*tasks), 10.0)
    fan_out.cancel()
    return ran


async def test_every_waiting_subscriber_is_woken_once_in_cohorts(pauses: list[float]) -> None:
    hub = hub_with()
    ran = await fan_out_once(hub, 3 * WAKE_COHORT + 7)
    assert ran == list(range(3 * WAKE_COHORT + 7))  # in the order they began to wait
    assert len(pauses) == 1, "no pauses between cohorts (nobody else was served), one rest"
    assert not hub._waiters


async def test_a_wave_of_many_cohorts_rests_for_part_of_the_time_it_took(
    pauses: list[float],
) -> None:
    hub = hub_with()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await fan_out_once(hub, 2 * WAKE_COHORT + 1)
    [rest] = pauses
    assert 0 < rest <= WAVE_REST * (loop.time() - began)


async def test_a_wave_of_one_cohort_does_not_rest(pauses: list[float]) -> None:
    hub = hub_with(calls=UnaryCalls(in_flight=3))
    ran = await fan_out_once(hub, WAKE_COHORT - 1)
    assert len(ran) == WAKE_COHORT - 1
    assert not pauses


async def test_the_fan_out_pauses_between_cohorts_while_unary_calls_are_in_flight(
    pauses: list[float],
) -> None:
    hub = hub_with(calls=UnaryCalls(in_flight=3))
    await fan_out_once(hub, 3 * WAKE_COHORT + 7)
    *between_cohorts, _rest = pauses
    assert len(between_cohorts) == 3  # after each full cohort
    assert all(0 < pause <= 0.05 for pause in between_cohorts)


async def test_a_subscriber_that_times_out_leaves_the_waiters() -> None:
    hub = hub_with((0, 2))
    assert not await hub.next_wave(2, hub.waves, 0.01)
    assert not hub._waiters


async def test_a_subscriber_waits_for_the_next_wave_unless_it_missed_one() -> None:
    """Events published while a subscriber was sending come in its next item, at the
    next wave; but if a wave passed while it was busy, it takes them at once."""
    hub = hub_with((0, 2))
    seen = hub.waves
    await hub._publish([event(3)])  # the head passed position 2, no wave has begun yet
    assert not await hub.next_wave(2, seen, 0.01), "must wait for the wave"
    fan_out = asyncio.create_task(hub._fan_out())
    waiting = asyncio.create_task(hub.next_wave(2, seen, 10.0))
    await hub._publish([event(4)])
    assert await asyncio.wait_for(waiting, 10.0)
    assert hub.waves > seen
    assert await asyncio.wait_for(hub.next_wave(2, seen, 10.0), 0.1)  # missed a wave: at once
    fan_out.cancel()
