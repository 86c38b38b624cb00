"""The one reader of new events in a process: reads `sequence > head` once per wake-up.

Why one reader: the database work per new event must not grow with the number of
subscribers. The reader alone reads what is new (one statement per wake-up,
whatever the number of subscribers) and keeps it in the retained batches
(retained.py), from which the caught-up subscribers take their events.

Wake-ups are hints: PostgreSQL NOTIFY through one LISTEN connection, the in-process
commit callback on SQLite (or while LISTEN is down), and a poll every
`feed_poll_interval_s`. The table is the truth: the reader always reads
`sequence > head`, so a lost, duplicated or early hint costs at most one empty read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

from masterdata.server.events.retained import Batch, RetainedEvents
from masterdata.server.storage.backend import Listener
from masterdata.v1 import events_pb2

log = logging.getLogger("masterdata.events")

#: Seconds a new subscription waits for the next read before reading alone.
SYNC_WAIT_S = 5.0


class EventTail(Protocol):
    """What the reader needs of the event table (SqlEventStore)."""

    async def select_events(self, *, gt: int, limit: int) -> list[events_pb2.Event]: ...

    async def max_sequence(self) -> int: ...


class TailReader:
    """Reads new events after `head` when hinted (or polled) and retains them."""

    def __init__(
        self,
        store: EventTail,
        retained: RetainedEvents,
        *,
        poll_interval_s: float,
        batch_size: int,
        wanted: Callable[[], bool],
        moved: Callable[[], None],
        listener: Listener | None = None,
    ) -> None:
        self.store = store
        self.retained = retained
        self.batch_size = batch_size
        self.listener = listener
        #: Every event up to `head` has been read (and retained) by the reader.
        self.head = 0
        #: False until the head was first read (the server starts without the database).
        self.ready = False
        self._poll_interval_s = poll_interval_s
        #: Whether anyone takes the events (reads are skipped while nobody subscribes).
        self._wanted = wanted
        #: Called after every move of the head.
        self._moved = moved
        self._read = asyncio.Condition()
        self._wake = asyncio.Event()
        self._read_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = False
        # Reads of the run loop, counted so `sync()` can wait for one that started later.
        self._reads_started = 0
        self._reads_done = 0
        # A commit was hinted (in-process callback or NOTIFY) since the last read began.
        self._dirty = False
        # Reads were skipped while nobody subscribed: the head may be behind the table.
        self._behind = False

    # ---- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Start reading (and listening); needs no database yet."""
        self._stopping = False
        self._wake.set()  # the first read learns the head at once
        self._tasks.append(asyncio.create_task(self.run(), name="event-hub"))
        if self.listener is not None:
            self._tasks.append(asyncio.create_task(self.listener.run(), name="event-listen"))

    async def stop(self) -> None:
        """Release every sync() caller and end the reading (and listening)."""
        self._stopping = True
        await _notify_all(self._read)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # ---- wake-ups ----------------------------------------------------------

    def hint(self) -> None:
        """In-process commit callback; on PostgreSQL the NOTIFY of that commit wakes us."""
        self._dirty = True
        if self.listener is None or not self.listener.connected:
            self._wake.set()

    def wake(self) -> None:
        """A notification (or reconnect): read what is new now."""
        self._dirty = True
        self._wake.set()

    async def resync(self) -> None:
        """Forget what was read and re-read the head (after the table was emptied)."""
        async with self._read_lock:
            self.retained.clear()
            self.head = await self.store.max_sequence()
            self.ready = True
        await _notify_all(self._read)

    async def sync(self, timeout_s: float = SYNC_WAIT_S) -> None:
        """Return once `head` covers every commit this process has been told about.

        If no commit was hinted since the last read began, that read covers them all
        (wait for it if it is under way). Otherwise, or while LISTEN is down, wait for
        a read that starts after this call, shared by every concurrent caller: a burst
        of new subscriptions costs one read, not one each.
        """
        listening = self.listener is None or self.listener.connected
        if self._dirty or not listening or not self.ready:
            wanted = self._reads_started + 1
            self._wake.set()
        elif self._reads_done < self._reads_started:
            wanted = self._reads_started  # the read under way began after the last hint
        else:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s), self._read:
                await self._read.wait_for(lambda: self._reads_done >= wanted or self._stopping)

    # ---- the reading -------------------------------------------------------

    async def run(self) -> None:
        """Read after every wake-up or poll interval, until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            self._dirty = False
            self._reads_started += 1
            failed = False
            try:
                await self._read_new()
            except Exception as error:  # an outage must not end the feed: retry at next poll
                log.warning("reading new events failed: %s", error)
                failed = self._dirty = True
            self._reads_done = self._reads_started
            await _notify_all(self._read)
            if failed:  # do not let a stream of sync() calls hammer a database that is down
                await asyncio.sleep(min(self._poll_interval_s, 1.0))

    async def _read_new(self) -> None:
        # Moving `head` to the last sequence read never skips an event that commits
        # later with a lower sequence: appends take a transaction-scoped lock and hold
        # it to COMMIT (storage/postgres/__init__.py), so sequence order is commit order and a
        # visible sequence implies every lower one that will ever commit is visible.
        async with self._read_lock:
            if not self._wanted():
                # Nobody to publish to: a write-heavy process (an import, document
                # numbering) then pays nothing per commit. The next subscriber's
                # sync() asks for a read, which skips to the newest event.
                self._behind = self._dirty = True
                return
            if self._behind or not self.ready:
                await self._skip_to_newest()
                return
            while True:
                events = await self.store.select_events(gt=self.head, limit=self.batch_size)
                if events:
                    self._publish(events)
                if len(events) < self.batch_size:
                    return

    async def _skip_to_newest(self) -> None:
        """Move the head to the newest event without reading the events in between.

        The retained batches are dropped, so a subscriber that is not covered by them
        reads the table itself (subscription.py) — the same path as any lagging
        subscriber; `head` stays exact for the same reason as in `_read_new`.
        """
        newest = await self.store.max_sequence()
        self.ready, self._behind = True, False
        if newest > self.head:
            self.retained.clear()
            self.head = newest
            self._moved()

    def _publish(self, events: list[events_pb2.Event]) -> None:
        self.retained.retain(Batch(self.head, events[-1].sequence, tuple(events)))
        self.head = events[-1].sequence
        self._moved()


async def _notify_all(condition: asyncio.Condition) -> None:
    async with condition:
        condition.notify_all()
