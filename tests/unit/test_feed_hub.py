"""FeedHub's retained batches, without a database."""

from __future__ import annotations

from masterdata.server.events.hub import Batch, FeedHub


def hub_with(*ranges: tuple[int, int]) -> FeedHub:
    hub = FeedHub(None, poll_interval_s=1.0, batch_size=5, retained_batches=3)  # type: ignore[arg-type]
    for after, last in ranges:
        hub._batches.append(Batch(after, last, ()))
    return hub


def test_batches_after_a_position_run_from_the_covering_batch_to_the_newest() -> None:
    hub = hub_with((0, 2), (2, 5), (5, 9))
    assert [b.last for b in hub.batches_after(0)] == [2, 5, 9]
    assert [b.last for b in hub.batches_after(3)] == [5, 9]
    assert [b.last for b in hub.batches_after(8)] == [9]
    assert hub.batches_after(9) == []  # nothing newer


def test_a_position_before_the_retained_batches_is_not_covered() -> None:
    hub = hub_with((0, 2), (2, 5), (5, 9), (9, 12))  # three retained: (2, 5) onwards
    assert hub.batches_after(1) == []  # events 2.. must come from the table
    assert [b.last for b in hub.batches_after(2)] == [5, 9, 12]
