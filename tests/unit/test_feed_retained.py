"""RetainedEvents: the last batches read, bounded by a number of events."""

from __future__ import annotations

from masterdata.server.events.retained import Batch, RetainedEvents
from masterdata.v1 import events_pb2


def batch(after: int, last: int) -> Batch:
    return Batch(
        after, last, tuple(events_pb2.Event(sequence=s) for s in range(after + 1, last + 1))
    )


def retained_with(*ranges: tuple[int, int], limit: int = 10) -> RetainedEvents:
    retained = RetainedEvents(limit)
    for after, last in ranges:
        retained.retain(batch(after, last))
    return retained


def test_retention_counts_events_and_always_keeps_the_newest_batch() -> None:
    retained = retained_with(*((n, n + 1) for n in range(30)))  # a commit at a time
    assert [b.last for b in retained.batches] == list(range(21, 31))
    retained = retained_with((0, 2), (2, 20))  # one batch over the limit on its own
    assert [b.last for b in retained.batches] == [20]


def test_the_batches_after_a_position_run_from_the_one_holding_it_to_the_newest() -> None:
    retained = retained_with((0, 2), (2, 5), (5, 9))
    assert [b.last for b in retained.after(0)] == [2, 5, 9]
    assert [b.last for b in retained.after(3)] == [5, 9]  # inside a batch
    assert [b.last for b in retained.after(5)] == [9]  # at a batch's end
    assert retained.after(9) == []  # nothing newer


def test_a_position_before_the_retained_batches_is_not_covered() -> None:
    retained = retained_with((0, 2), (2, 5), (5, 9), (9, 12))  # ten events: (2, 5) onwards
    assert retained.after(1) == []  # events 2.. must come from the table
    assert [b.last for b in retained.after(2)] == [5, 9, 12]


def test_every_change_moves_the_generation_and_clear_forgets_everything() -> None:
    retained = retained_with((0, 2))
    generation = retained.generation
    retained.retain(batch(2, 3))
    assert retained.generation > generation
    generation = retained.generation
    retained.clear()
    assert retained.generation > generation
    assert not retained.batches and retained.after(0) == []
    retained.retain(batch(7, 20))  # counting starts afresh: eleven events, one batch
    retained.retain(batch(20, 21))
    assert [b.last for b in retained.batches] == [21]
