"""StretchCache: stream items of the retained events, serialized once per position."""

from __future__ import annotations

from masterdata.server.events.retained import Batch, RetainedEvents
from masterdata.server.events.store import EventFilter
from masterdata.server.events.stretches import StretchCache, stream_items
from masterdata.v1 import events_pb2

EVERYTHING = EventFilter()


def event(sequence: int, aggregate_type: str = "Location") -> events_pb2.Event:
    return events_pb2.Event(sequence=sequence, aggregate_type=aggregate_type)


def batch(after: int, last: int) -> Batch:
    return Batch(after, last, tuple(event(s) for s in range(after + 1, last + 1)))


def cache_with(*ranges: tuple[int, int], max_bytes: int | None = None) -> StretchCache:
    retained = RetainedEvents(10)
    for after, last in ranges:
        retained.retain(batch(after, last))
    if max_bytes is None:
        return StretchCache(retained)
    return StretchCache(retained, max_bytes=max_bytes)


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
    cache = cache_with((0, 2), (2, 5), (5, 9))
    stretch = cache.after(3, EVERYTHING, 3)
    assert stretch is not None and stretch.last == 9
    assert sequences(stretch.items) == [[4, 5, 6], [7, 8, 9]]
    assert cache.after(9, EVERYTHING, 3) is None  # nothing newer


def test_an_unbatched_stretch_is_one_retained_batch_an_item_per_event() -> None:
    cache = cache_with((0, 2), (2, 5), (5, 9))
    stretch = cache.after(0, EVERYTHING, 1)
    assert stretch is not None and stretch.last == 2
    assert sequences(stretch.items) == [[1], [2]]


def test_a_position_before_the_retained_batches_is_not_covered() -> None:
    cache = cache_with((0, 2), (2, 5), (5, 9), (9, 12))  # ten events retained: (2, 5) onwards
    assert cache.after(1, EVERYTHING, 10) is None  # events 2.. must come from the table
    stretch = cache.after(2, EVERYTHING, 10)
    assert stretch is not None and sequences(stretch.items) == [list(range(3, 13))]


def test_subscribers_at_one_position_share_one_stretch_until_the_next_batch() -> None:
    cache = cache_with((0, 4))
    first = cache.after(0, EVERYTHING, 10)
    assert cache.after(0, EventFilter(), 10) is first  # built and serialized once
    assert cache.after(0, EVERYTHING, 2) is not first  # another item size
    cache.retained.retain(batch(4, 5))
    again = cache.after(0, EVERYTHING, 10)
    assert again is not first and again is not None and again.last == 5


def test_forgetting_the_retained_batches_forgets_the_stretches() -> None:
    cache = cache_with((0, 4))
    assert cache.after(0, EVERYTHING, 10) is not None and cache.held_bytes > 0
    cache.retained.clear()  # the head jumped: nothing retained covers position 0
    assert cache.after(0, EVERYTHING, 10) is None
    assert cache.held_bytes == 0


def test_stretches_are_remembered_up_to_a_number_of_bytes() -> None:
    first = cache_with((0, 4)).after(0, EVERYTHING, 10)
    assert first is not None
    cache = cache_with((0, 4), max_bytes=sum(map(len, first.items)))
    first = cache.after(0, EVERYTHING, 10)
    assert cache.after(0, EVERYTHING, 10) is first
    other = cache.after(2, EVERYTHING, 10)  # past the bound: built, not kept
    assert other is not None and cache.after(2, EVERYTHING, 10) is not other
    assert cache.held_bytes == sum(map(len, first.items))


def test_a_stretch_keeps_to_its_filter_and_still_moves_past_what_it_skips() -> None:
    cache = cache_with()
    cache.retained.retain(Batch(0, 3, (event(1), event(2, "Commodity"), event(3))))
    stretch = cache.after(0, EventFilter(aggregate_types=frozenset({"Commodity"})), 10)
    assert stretch is not None and stretch.last == 3
    assert sequences(stretch.items) == [[2]]


def test_stream_items_are_one_per_event_or_runs_of_up_to_the_batch_size() -> None:
    events = [event(s) for s in range(1, 8)]
    assert [item.event.sequence for item in stream_items(events, 1)] == list(range(1, 8))
    runs = [[e.sequence for e in item.events.events] for item in stream_items(events, 3)]
    assert runs == [[1, 2, 3], [4, 5, 6], [7]]
    assert list(stream_items([], 3)) == []
