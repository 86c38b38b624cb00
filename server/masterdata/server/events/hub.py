"""The feed hub: one reader of new events per process, shared by every subscriber.

The hub is the composition of four parts, each with one job:

- tail.py (`TailReader`): reads `sequence > head` once per wake-up (NOTIFY, commit
  callback, poll), so the database work per new event does not grow with the
  number of subscribers;
- retained.py (`RetainedEvents`): the last few batches read, from which caught-up
  subscribers take their events; one that falls further behind reads the table at
  its own pace (subscription.py), and nothing is ever queued per subscriber;
- stretches.py (`StretchCache`): the stream items of the retained events,
  serialized once per position and shared by every subscriber there;
- fan_out.py (`FanOut`): wakes the caught-up subscribers in waves, a cohort at a
  time, giving way to unary calls.

The hub counts the subscribers, starts and stops the parts, and is what
subscriptions (subscription.py) and the API (api/events.py) talk to.
"""

from __future__ import annotations

import asyncio
import contextlib

from masterdata.server.events.fan_out import COHORT_WAIT_S, WAKE_COHORT, WAVE_REST, FanOut
from masterdata.server.events.retained import Batch, RetainedEvents
from masterdata.server.events.store import EventFilter, SqlEventStore
from masterdata.server.events.stretches import (
    MAX_STRETCH_BYTES,
    Stretch,
    StretchCache,
    stream_items,
)
from masterdata.server.events.tail import SYNC_WAIT_S, TailReader
from masterdata.server.resources.activity import UnaryCalls
from masterdata.server.storage.backend import Listener

__all__ = [
    "COHORT_WAIT_S",
    "MAX_STRETCH_BYTES",
    "STOP_WAIT_S",
    "SYNC_WAIT_S",
    "WAKE_COHORT",
    "WAVE_REST",
    "Batch",
    "FeedHub",
    "Stretch",
    "stream_items",
]

#: Seconds `stop()` waits for subscribers to end their streams before the server stops.
STOP_WAIT_S = 2.0


class FeedHub:
    """Reads new events once, publishes them to subscribers, ends them at shutdown."""

    def __init__(
        self,
        store: SqlEventStore,
        *,
        pages: SqlEventStore | None = None,
        poll_interval_s: float,
        batch_size: int,
        retained_events: int,
        listener: Listener | None = None,
        calls: UnaryCalls | None = None,
    ) -> None:
        #: The hub's own reads of new events.
        self.store = store
        #: Table reads of subscribers that lag behind (on the shared reader pool).
        self.pages = pages or store
        #: Most events per read, of the hub and of a lagging subscriber.
        self.batch_size = batch_size
        self.subscribers = 0
        self.closing = False
        self.retained = RetainedEvents(retained_events)
        self.stretches = StretchCache(self.retained)
        self.fan_out = FanOut(calls)
        self.tail = TailReader(
            store,
            self.retained,
            poll_interval_s=poll_interval_s,
            batch_size=batch_size,
            wanted=self._subscribed,
            moved=self.fan_out.moved,
            listener=listener,
        )
        self._no_subscribers = asyncio.Event()
        self._no_subscribers.set()

    # ---- what the parts hold -----------------------------------------------

    @property
    def head(self) -> int:
        """Every event up to `head` has been read (and published) by the hub."""
        return self.tail.head

    @property
    def ready(self) -> bool:
        """False until the head was first read (the server starts without the database)."""
        return self.tail.ready

    @property
    def waves(self) -> int:
        """Waves of wake-ups begun by the fan-out."""
        return self.fan_out.waves

    @property
    def calls(self) -> UnaryCalls | None:
        """The process's unary calls, which the fan-out gives way to."""
        return self.fan_out.calls

    @property
    def listener(self) -> Listener | None:
        """The LISTEN connection whose notifications wake the reader (PostgreSQL)."""
        return self.tail.listener

    @listener.setter
    def listener(self, listener: Listener | None) -> None:
        self.tail.listener = listener

    @property
    def queries(self) -> int:
        """Statements run on the event table by the hub and its subscribers."""
        return self.store.queries + (self.pages.queries if self.pages is not self.store else 0)

    # ---- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start reading; needs no database yet (subscribers get UNAVAILABLE meanwhile)."""
        self.closing = False
        self.tail.start()
        self.fan_out.start()

    async def stop(self) -> None:
        """End every subscription (they fail with UNAVAILABLE and resume elsewhere)."""
        self.closing = True
        await self.fan_out.stop()
        await self.tail.stop()
        await self.store.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_WAIT_S):
                await self._no_subscribers.wait()

    # ---- wake-ups ----------------------------------------------------------

    def hint(self) -> None:
        """In-process commit callback; on PostgreSQL the NOTIFY of that commit wakes us."""
        self.tail.hint()

    def wake(self) -> None:
        """A notification (or reconnect): read what is new now."""
        self.tail.wake()

    async def resync(self) -> None:
        """Forget what was read and re-read the head (after the table was emptied)."""
        await self.tail.resync()
        self.fan_out.release()

    # ---- what subscribers use ----------------------------------------------

    def join(self) -> None:
        self.subscribers += 1
        self._no_subscribers.clear()

    def leave(self) -> None:
        self.subscribers -= 1
        if not self.subscribers:
            self._no_subscribers.set()

    async def sync(self, timeout_s: float = SYNC_WAIT_S) -> None:
        """Return once `head` covers every commit this process has been told about
        (see TailReader.sync), or the hub is closing."""
        await self.tail.sync(timeout_s)

    def stretch_after(self, position: int, where: EventFilter, batch_size: int) -> Stretch | None:
        """The items of the retained events after `position` that match `where`;
        None when the subscriber must read the table (see StretchCache.after)."""
        return self.stretches.after(position, where, batch_size)

    async def next_wave(self, position: int, seen: int, timeout_s: float) -> bool:
        """Wait for a wave of wake-ups that finds the head past `position`; False on timeout.

        `seen` is `waves` when the caller last took events. If a wave began since
        (the caller was busy sending and missed it) and the head is past its
        position, it returns at once; otherwise the caller waits for the next wave.
        So a caught-up subscriber sends at most one item per wave, and what is
        published while it sends comes together in its next item. True may come
        early (closing, resync): callers check the head again.
        """
        if self.closing or (self.tail.head > position and self.fan_out.waves > seen):
            return True
        return await self.fan_out.wait(timeout_s)

    def _subscribed(self) -> bool:
        return self.subscribers > 0
