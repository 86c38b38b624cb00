"""The feed hub: one reader of new events per process, shared by every subscriber.

Why one reader: the database work per new event must not grow with the number of
subscribers. The hub alone reads what is new (one statement per wake-up, whatever
the number of subscribers), keeps the last few batches in memory, and wakes the
caught-up subscribers, which take their events from those shared batches. A
subscriber that falls further behind than the retained batches reads the table at
its own pace (see subscription.py); nothing is ever queued per subscriber.

Fan-out at scale (measured with 10,000 subscriptions beside the load mix): each
stretch of events is turned into stream items and serialized once, shared by every
subscriber at the same position (`stretch_after`), instead of once per subscriber.
Caught-up subscribers are woken in waves by a task of their own (`_fan_out`), at
most one item each per wave, a cohort at a time with pauses for unary calls in
between; a big wave then rests. Woken all at once, 10,000 of them queued 10,000
steps on the loop at every commit, and as grpc.aio accepts new calls one per turn
of the loop, every unary call of the process waited until its deadline.

Wake-ups are hints: PostgreSQL NOTIFY through one LISTEN connection, the in-process
commit callback on SQLite (or while LISTEN is down), and a poll every
`feed_poll_interval_s`. The table is the truth: the hub always reads
`sequence > head`, so a lost, duplicated or early hint costs at most one empty read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from masterdata.server.events.listener import PostgresListener
from masterdata.server.events.store import EventFilter, SqlEventStore
from masterdata.server.resources.activity import UnaryCalls, give_way, give_way_to
from masterdata.v1 import events_pb2

log = logging.getLogger("masterdata.events")

#: Seconds `stop()` waits for subscribers to end their streams before the server stops.
STOP_WAIT_S = 2.0
#: Seconds a new subscription waits for the hub's next read before reading alone.
SYNC_WAIT_S = 5.0
#: Subscribers woken at once; unary calls get a turn of the loop between cohorts.
WAKE_COHORT = 200
#: Rest after a wave of many cohorts, as a fraction of the time the wave took.
WAVE_REST = 0.5
#: Longest wait for the cohort before the last to be done sending, before the next.
COHORT_WAIT_S = 0.05
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


@dataclass(frozen=True, slots=True)
class Batch:
    """Events read together: exactly those with after < sequence <= last."""

    after: int
    last: int
    events: tuple[events_pb2.Event, ...]


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
        listener: PostgresListener | None = None,
        calls: UnaryCalls | None = None,
    ) -> None:
        #: The hub's own reads of new events.
        self.store = store
        #: Table reads of subscribers that lag behind (on the shared reader pool).
        self.pages = pages or store
        self.batch_size = batch_size
        self.listener = listener
        #: The process's unary calls, which the fan-out gives way to.
        self.calls = calls
        #: Every event up to `head` has been read (and published) by the hub.
        self.head = 0
        #: False until the head was first read (the server starts without the database).
        self.ready = False
        self.subscribers = 0
        self.closing = False
        self._poll_interval_s = poll_interval_s
        self._batches: deque[Batch] = deque()
        self._retained_events = retained_events
        self._events_in_batches = 0
        #: Stream items by (position, filter, max_batch_size), while the batches stay.
        self._stretches: dict[tuple[int, EventFilter, int], Stretch] = {}
        self._stretch_bytes = 0
        # Subscribers waiting for the head to move (an ordered set, woken in cohorts
        # by the fan-out task when `_moved` is set); neither a poll nor a new
        # subscription's sync() (`_read`) wakes them.
        self._waiters: dict[asyncio.Future[None], None] = {}
        self._moved = asyncio.Event()
        # Set once `_waiters` holds `_back_target` subscribers (back from sending).
        self._back = asyncio.Event()
        self._back_target = 0
        #: Waves of wake-ups begun by the fan-out.
        self.waves = 0
        self._read = asyncio.Condition()
        self._wake = asyncio.Event()
        self._read_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[Any]] = []
        self._no_subscribers = asyncio.Event()
        self._no_subscribers.set()
        # Reads of the run loop, counted so `sync()` can wait for one that started later.
        self._reads_started = 0
        self._reads_done = 0
        # A commit was hinted (in-process callback or NOTIFY) since the last read began.
        self._dirty = False
        # Reads were skipped while nobody subscribed: the head may be behind the table.
        self._behind = False

    @property
    def queries(self) -> int:
        """Statements run on the event table by the hub and its subscribers."""
        return self.store.queries + (self.pages.queries if self.pages is not self.store else 0)

    # ---- lifecycle ---------------------------------------------------------

    async def start(self) -> None:
        """Start reading; needs no database yet (subscribers get UNAVAILABLE meanwhile)."""
        self.closing = False
        self._wake.set()  # the first read learns the head at once
        self._tasks.append(asyncio.create_task(self._run(), name="event-hub"))
        self._tasks.append(asyncio.create_task(self._fan_out(), name="event-fan-out"))
        if self.listener is not None:
            self._tasks.append(asyncio.create_task(self.listener.run(), name="event-listen"))

    async def stop(self) -> None:
        """End every subscription (they fail with UNAVAILABLE and resume elsewhere)."""
        self.closing = True
        await self._notify()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.store.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_WAIT_S):
                await self._no_subscribers.wait()

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
            self._forget_batches()
            self.head = await self.store.max_sequence()
            self.ready = True
        await self._notify()

    # ---- what subscribers use ----------------------------------------------

    def join(self) -> None:
        self.subscribers += 1
        self._no_subscribers.clear()

    def leave(self) -> None:
        self.subscribers -= 1
        if not self.subscribers:
            self._no_subscribers.set()

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
                await self._read.wait_for(lambda: self._reads_done >= wanted or self.closing)

    def stretch_after(self, position: int, where: EventFilter, batch_size: int) -> Stretch | None:
        """The items of the retained events after `position` that match `where`.

        None when `position` is not covered by the retained batches (the subscriber
        then reads the table). With `batch_size` > 1 every retained batch past the
        position is taken at once, in items of up to `batch_size` events: a
        subscriber that fell behind while the server was busy catches up in few
        items, so the cost of a busy feed shrinks per event instead of piling up.
        With 1, one batch, an item per event.
        """
        key = (position, where, batch_size)
        stretch = self._stretches.get(key)
        if stretch is None:
            batches = self._batches_after(position)
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
            stretch = Stretch(batches[-1].last, items)
            size = sum(map(len, stretch.items))
            if self._stretch_bytes + size <= MAX_STRETCH_BYTES:
                self._stretches[key] = stretch
                self._stretch_bytes += size
        return stretch

    def _batches_after(self, position: int) -> list[Batch]:
        """The retained batches from the one holding the events right after `position`
        to the newest (empty when `position` is not covered)."""
        covering: list[Batch] = []
        for batch in reversed(self._batches):
            if batch.last <= position:
                break
            covering.append(batch)
            if batch.after <= position:
                covering.reverse()
                return covering
        return []

    async def next_wave(self, position: int, seen: int, timeout_s: float) -> bool:
        """Wait for a wave of wake-ups that finds the head past `position`; False on timeout.

        `seen` is `waves` when the caller last took events. If a wave began since
        (the caller was busy sending and missed it) and the head is past its
        position, it returns at once; otherwise the caller waits for the next wave.
        So a caught-up subscriber sends at most one item per wave, and what is
        published while it sends comes together in its next item. True may come
        early (closing, resync): callers check the head again.
        """
        if self.closing or (self.head > position and self.waves > seen):
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[waiter] = None
        if self._back_target and len(self._waiters) >= self._back_target:
            self._back.set()
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                await waiter
        except TimeoutError:
            return False
        finally:
            self._waiters.pop(waiter, None)
        return True

    # ---- the reader --------------------------------------------------------

    async def _run(self) -> None:
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
        # it to COMMIT (db/unit_of_work.py), so sequence order is commit order and a
        # visible sequence implies every lower one that will ever commit is visible.
        async with self._read_lock:
            if not self.subscribers:
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
                    await self._publish(events)
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
            self._forget_batches()
            self.head = newest
            self._moved.set()

    async def _publish(self, events: list[events_pb2.Event]) -> None:
        self._retain(Batch(self.head, events[-1].sequence, tuple(events)))
        self.head = events[-1].sequence
        self._moved.set()

    def _retain(self, batch: Batch) -> None:
        """Keep `batch`, and drop the oldest ones past `retained_events` (never the newest)."""
        self._batches.append(batch)
        self._events_in_batches += len(batch.events)
        while self._events_in_batches > self._retained_events and len(self._batches) > 1:
            self._events_in_batches -= len(self._batches.popleft().events)
        self._forget_stretches()

    def _forget_batches(self) -> None:
        self._batches.clear()
        self._events_in_batches = 0
        self._forget_stretches()

    def _forget_stretches(self) -> None:
        """Stretches hold the batches' events as of their building: built anew after a change."""
        self._stretches.clear()
        self._stretch_bytes = 0

    # ---- the fan-out -------------------------------------------------------

    async def _fan_out(self) -> None:
        """After each move of the head, wake the waiting subscribers: a wave, a cohort
        at a time, giving way to unary calls between cohorts.

        While one wave is woken, the head may move again: the next wave then takes
        everything published in between at once. Waves follow each other as fast as
        the process can serve them, so the busier it is, the more events each item
        carries, instead of the feed's cost growing with every commit.
        """
        if self.calls is not None:
            give_way_to(self.calls)
        loop = asyncio.get_running_loop()
        while True:
            await self._moved.wait()
            self._moved.clear()
            self.waves += 1
            waiters, self._waiters = self._waiters, {}
            wave_began = loop.time()
            woken = 0
            for waiter in waiters:
                if waiter.done():
                    continue
                waiter.set_result(None)
                woken += 1
                if woken % WAKE_COHORT == 0:
                    began = loop.time()
                    await self._cohorts_back(woken - WAKE_COHORT)
                    await give_way(loop.time() - began)
            if woken > WAKE_COHORT:
                # A wave of many cohorts rests for half as long as it took: the feed
                # then has at most about two thirds of the loop, and grpc.aio, which
                # accepts new calls one per turn of the loop, keeps accepting them.
                await asyncio.sleep(WAVE_REST * (loop.time() - wave_began))

    async def _cohorts_back(self, count: int) -> None:
        """Let the cohort just woken run; return once `count` of the wave's subscribers
        are back from sending (waiting again), or after COHORT_WAIT_S.

        So at most two cohorts' items are in grpc at once: their send completions
        come back in bunches of a cohort, not of thousands, each turn of the loop
        stays short, and new calls keep being accepted between them.
        """
        if len(self._waiters) >= count:
            await asyncio.sleep(0)
            return
        self._back_target = count
        self._back.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(COHORT_WAIT_S):
                await self._back.wait()
        self._back_target = 0

    async def _notify(self) -> None:
        """Wake every waiting subscriber and sync() caller at once (closing, resync)."""
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        await _notify_all(self._read)


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


async def _notify_all(condition: asyncio.Condition) -> None:
    async with condition:
        condition.notify_all()
