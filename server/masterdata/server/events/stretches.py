"""Stream items of the retained events, serialized once per position and shared.

Fan-out at scale (measured with 10,000 subscriptions beside the load mix): each
stretch of events is turned into stream items and serialized once, shared by every
subscriber at the same position, instead of once per subscriber. The call boundary
passes the bytes through (api/call_boundary.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from masterdata.server.events.retained import RetainedEvents
from masterdata.server.events.store import EventFilter
from masterdata.v1 import events_pb2

#: Most bytes of stretches remembered between two publications: caught-up subscribers
#: share a few; lagging ones at many positions would otherwise hold copies of the
#: retained events for each position.
MAX_STRETCH_BYTES = 32 << 20


@dataclass(frozen=True, slots=True)
class Stretch:
    """The stream items of a subscription's next events, up to and including `last`.

    Items are serialized SubscribeEventsResponse messages (the call boundary
    passes bytes through), built once for every subscriber that takes them.
    """

    last: int
    items: tuple[bytes, ...]


class StretchCache:
    """Stretches of `retained` by (position, filter, max_batch_size), while it is unchanged."""

    def __init__(self, retained: RetainedEvents, *, max_bytes: int = MAX_STRETCH_BYTES) -> None:
        self.retained = retained
        self.max_bytes = max_bytes
        self._stretches: dict[tuple[int, EventFilter, int], Stretch] = {}
        self._bytes = 0
        # Stretches hold the batches' events as of their building: built anew after a change.
        self._generation = retained.generation

    def after(self, position: int, where: EventFilter, batch_size: int) -> Stretch | None:
        """The items of the retained events after `position` that match `where`.

        None when `position` is not covered by the retained batches (the subscriber
        then reads the table). With `batch_size` > 1 every retained batch past the
        position is taken at once, in items of up to `batch_size` events: a
        subscriber that fell behind while the server was busy catches up in few
        items, so the cost of a busy feed shrinks per event instead of piling up.
        With 1, one batch, an item per event.
        """
        if self._generation != self.retained.generation:
            self._forget()
        key = (position, where, batch_size)
        stretch = self._stretches.get(key)
        if stretch is None:
            stretch = self._build(position, where, batch_size)
            if stretch is None:
                return None
            size = sum(map(len, stretch.items))
            if self._bytes + size <= self.max_bytes:
                self._stretches[key] = stretch
                self._bytes += size
        return stretch

    @property
    def held_bytes(self) -> int:
        """Bytes of the stretches remembered now."""
        return self._bytes

    def _build(self, position: int, where: EventFilter, batch_size: int) -> Stretch | None:
        batches = self.retained.after(position)
        if not batches:
            return None
        if batch_size <= 1:
            batches = batches[:1]
        events = [
            event
            for batch in batches
            for event in batch.events
            if event.sequence > position and where.matches(event)
        ]
        items = tuple(item.SerializeToString() for item in stream_items(events, batch_size))
        return Stretch(batches[-1].last, items)

    def _forget(self) -> None:
        self._stretches.clear()
        self._bytes = 0
        self._generation = self.retained.generation


def stream_items(
    events: Sequence[events_pb2.Event], batch_size: int
) -> Iterator[events_pb2.SubscribeEventsResponse]:
    """SubscribeEvents items of `events`: one per event, or runs of up to `batch_size`."""
    if batch_size <= 1:
        for event in events:
            yield events_pb2.SubscribeEventsResponse(event=event)
        return
    for start in range(0, len(events), batch_size):
        run = events_pb2.EventBatch(events=events[start : start + batch_size])
        yield events_pb2.SubscribeEventsResponse(events=run)
