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
from collections.abc import AsyncIterator, Sequence

from google.protobuf import timestamp_pb2

from masterdata.server.domain.errors import Unavailable
from masterdata.server.events.hub import FeedHub, stream_items
from masterdata.server.events.store import EventFilter
from masterdata.v1 import events_pb2

Response = events_pb2.SubscribeEventsResponse
#: A stream item: a message, or one serialized once and shared by many streams.
Item = Response | bytes


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

    async def responses(self) -> AsyncIterator[Item]:
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
                items, _ = await self._next_items()
                for item in items:
                    yield item
            yield Response(caught_up=events_pb2.CaughtUp(head_sequence=self.position))
            async for item in self._live():
                yield item
        finally:
            # Runs at once on cancellation too: nothing else refers to this subscription.
            hub.leave()

    async def _live(self) -> AsyncIterator[Item]:
        hub = self._hub
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        seen = hub.waves
        while True:
            self._raise_if_closing()
            head = hub.head
            if self.position < head:
                seen = hub.waves
                items, shared = await self._next_items()
                for item in items:
                    yield item
                if items:
                    last_sent = loop.time()
                if not shared or self.position < head:
                    # Behind the retained batches (the table, at its own pace), or
                    # an item per event (one retained batch at a time).
                    continue
            idle_s = loop.time() - last_sent
            if not await hub.next_wave(self.position, seen, self._heartbeat_s - idle_s):
                yield _heartbeat(self.position)
                last_sent = loop.time()

    async def _next_items(self) -> tuple[Sequence[Item], bool]:
        """The items of the matching events after `position` up to some later point,
        which it moves to; and whether they came from the hub's retained batches
        (shared, no database work) rather than from a page of the table."""
        stretch = self._hub.stretch_after(self.position, self._where, self._batch_size)
        if stretch is None:
            return await self._read_page(), False
        self.position = stretch.last
        return stretch.items, True

    async def _read_page(self) -> list[Response]:
        # Bounded by the hub's head: everything up to it is known to be visible, so
        # a short page means the whole stretch up to `bound` has been scanned.
        hub, bound = self._hub, self._hub.head
        limit = hub.batch_size
        events = await hub.pages.select_events(
            gt=self.position, lte=bound, where=self._where, limit=limit
        )
        self.position = events[-1].sequence if len(events) == limit else bound
        return list(stream_items(events, self._batch_size))

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
