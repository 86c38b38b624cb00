"""One SubscribeEvents stream: catch-up from the table, `caught_up`, then live events.

A subscription is nothing but a position (the last sequence it has accounted for)
and a filter. At every step it takes the next stretch of events after its
position from a batch the hub still retains (shared, no database work) or, when
it has fallen further behind than that, from one page of the table read at its
own pace. grpc flow control is the only queue: while a slow client's window is
full, the `yield` waits and the subscription holds nothing but its position.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

from google.protobuf import timestamp_pb2

from masterdata.server.domain.errors import Unavailable
from masterdata.server.events.hub import FeedHub
from masterdata.server.events.store import EventFilter
from masterdata.v1 import events_pb2

Response = events_pb2.SubscribeEventsResponse


class Subscription:
    """The state of one stream; `responses()` is the stream itself."""

    __slots__ = ("_batch_size", "_heartbeat_s", "_hub", "_where", "position")

    def __init__(
        self,
        hub: FeedHub,
        where: EventFilter,
        after_sequence: int,
        *,
        heartbeat_s: float,
        batch_size: int = 1,
    ) -> None:
        self._hub = hub
        self._where = where
        self._heartbeat_s = heartbeat_s
        #: Most events per stream item (max_batch_size); 1 sends `event` items.
        self._batch_size = batch_size
        #: Every matching event up to here has been delivered.
        self.position = after_sequence

    async def responses(self) -> AsyncIterator[Response]:
        """Events up to the head at subscription time, caught_up, then live events."""
        hub = self._hub
        hub.join()
        try:
            self._raise_if_closing()
            await hub.sync()
            if not hub.ready:
                raise Unavailable("the event feed cannot read the database yet")
            target = hub.head
            while self.position < target:
                self._raise_if_closing()
                for item in self._items(await self._next_events()):
                    yield item
            yield Response(caught_up=events_pb2.CaughtUp(head_sequence=self.position))
            async for item in self._live():
                yield item
        finally:
            # Runs at once on cancellation too: nothing else refers to this subscription.
            hub.leave()

    async def _live(self) -> AsyncIterator[Response]:
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            self._raise_if_closing()
            if self.position < self._hub.head:
                events = await self._next_events()
                for item in self._items(events):
                    yield item
                if events:
                    last_sent = loop.time()
                continue
            idle_s = loop.time() - last_sent
            if not await self._hub.wait_past(self.position, self._heartbeat_s - idle_s):
                yield _heartbeat(self.position)
                last_sent = loop.time()

    def _items(self, events: list[Response]) -> Iterator[Response]:
        """The stream items of `events`: themselves, or runs of up to max_batch_size.

        Built one at a time as the stream takes them, so that a long catch-up does
        not hold the event loop while all of its items are made.
        """
        size = self._batch_size
        if size <= 1:
            yield from events
            return
        for start in range(0, len(events), size):
            run = [item.event for item in events[start : start + size]]
            yield Response(events=events_pb2.EventBatch(events=run))

    async def _next_events(self) -> list[Response]:
        """The matching events after `position` up to some later point, which it moves to."""
        # Batched streams take every retained batch past their position at once: a
        # subscriber that fell behind while the server was busy catches up in few
        # items, so the cost of a busy feed shrinks per event instead of piling up.
        batches = self._hub.batches_after(self.position)
        if self._batch_size <= 1:
            batches = batches[:1]
        if not batches:
            return await self._read_page()
        position, where = self.position, self._where
        self.position = batches[-1].last
        return [
            item
            for batch in batches
            for item in batch.items
            if item.event.sequence > position and where.matches(item.event)
        ]

    async def _read_page(self) -> list[Response]:
        # Bounded by the hub's head: everything up to it is known to be visible, so
        # a short page means the whole stretch up to `bound` has been scanned.
        hub, bound = self._hub, self._hub.head
        limit = hub.batch_size
        events = await hub.pages.select_events(
            gt=self.position, lte=bound, where=self._where, limit=limit
        )
        self.position = events[-1].sequence if len(events) == limit else bound
        return [Response(event=event) for event in events]

    def _raise_if_closing(self) -> None:
        if self._hub.closing:
            raise Unavailable(
                "the server is shutting down; resubscribe with the last sequence received",
                reason="SHUTTING_DOWN",
            )


def _heartbeat(head_sequence: int) -> Response:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    return Response(heartbeat=events_pb2.Heartbeat(head_sequence=head_sequence, time=now))
