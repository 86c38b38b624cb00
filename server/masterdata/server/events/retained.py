"""The last few batches of new events, kept in memory for the subscribers that keep up.

A caught-up subscriber takes its next events from these shared batches: no database
work per subscriber. A subscriber that falls further behind than the retained
batches reads the table at its own pace (see subscription.py), so memory stays
bounded by `limit` events whatever the number of subscribers or how far behind
they are; nothing is ever queued per subscriber.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from masterdata.v1 import events_pb2


@dataclass(frozen=True, slots=True)
class Batch:
    """Events read together: exactly those with after < sequence <= last."""

    after: int
    last: int
    events: tuple[events_pb2.Event, ...]


class RetainedEvents:
    """The newest batches, about `limit` events in all (never fewer than one batch)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        #: Oldest first; each batch starts where the one before it ends.
        self.batches: deque[Batch] = deque()
        #: Moves on every change, so what was built from the batches can tell it is stale.
        self.generation = 0
        self._events = 0

    def retain(self, batch: Batch) -> None:
        """Keep `batch`, and drop the oldest ones past `limit` events (never the newest)."""
        batches = self.batches
        batches.append(batch)
        self._events += len(batch.events)
        while self._events > self.limit and len(batches) > 1:
            self._events -= len(batches.popleft().events)
        self.generation += 1

    def clear(self) -> None:
        """Forget every batch (the head jumped past events that were not read)."""
        self.batches.clear()
        self._events = 0
        self.generation += 1

    def after(self, position: int) -> list[Batch]:
        """The batches from the one holding the events right after `position` to the
        newest; empty when `position` is not covered (or nothing is newer)."""
        covering: list[Batch] = []
        for batch in reversed(self.batches):
            if batch.last <= position:
                break
            covering.append(batch)
            if batch.after <= position:
                covering.reverse()
                return covering
        return []
