"""The events table as the relay's outbox: pages after a position, wake-ups, and the lag.

Sequence order is commit order (storage/postgres/__init__.py), so once the relay
has read past sequence N it never needs to look below N again: it reads
`sequence > position` page by page, and waits for a NOTIFY (PostgreSQL) or a poll
when nothing is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from sqlalchemy import func, select

from masterdata.server.events.store import SqlEventStore
from masterdata.server.storage.base import utc
from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.events import EventRow
from masterdata.v1 import events_pb2

_T = EventRow.__table__.c


@dataclass(frozen=True)
class Lag:
    """What is committed but not yet in the stream."""

    events: int
    #: Age of the oldest such event (from its occur_time), 0 when there is none.
    seconds: float


class Outbox:
    """Reads committed events for the relay; one instance per relay process."""

    def __init__(
        self, db: Database, *, page_size: int, poll_interval_s: float, connect_timeout_s: float
    ) -> None:
        self._db = db
        self._store = SqlEventStore(db.reader)
        self._page_size = page_size
        self._poll_interval_s = poll_interval_s
        self._new = asyncio.Event()
        self._listener = db.backend.listener(self._new.set, connect_timeout_s)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Listen for other processes' commits, where the backend can tell of them."""
        if self._listener is not None and self._task is None:
            self._task = asyncio.create_task(self._listener.run(), name="relay-listener")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def after(self, sequence: int) -> list[events_pb2.Event]:
        """The next page of events after `sequence`, in sequence order."""
        return await self._store.select_events(gt=sequence, limit=self._page_size)

    async def head(self) -> int:
        """The highest committed sequence."""
        return await self._store.max_sequence()

    async def wait(self) -> None:
        """Until a commit is announced or the poll interval has passed."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._new.wait(), self._poll_interval_s)
        self._new.clear()

    async def lag(self, sequence: int) -> Lag:
        """Events after `sequence` and the age of the oldest: one aggregate over them only."""
        stmt = select(func.count(), func.min(_T.occur_time)).where(_T.sequence > sequence)
        async with self._db.reader.connect() as conn:
            count, oldest = (await conn.execute(stmt)).one()
        if not count or oldest is None:
            return Lag(0, 0.0)
        return Lag(int(count), max(0.0, time.time() - utc(oldest).timestamp()))
