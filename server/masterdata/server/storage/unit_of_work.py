"""One transaction per write call, with its events appended inside it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import NamedTuple, Self

from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.storage.backend import EventRecord
from masterdata.server.storage.engine import Database
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.random_ids import random_ids


class PendingEvent(NamedTuple):
    """An event recorded during a unit of work, written at commit.

    A named tuple, not a frozen dataclass: an import makes one per row, in a quarter
    of the time.
    """

    aggregate_type: str
    aggregate_id: uuid.UUID
    aggregate_version: int
    event_type: str
    resource_type: str
    resource: bytes
    changed_fields: Sequence[str] = ()
    #: Who and which call caused it, when not the unit of work's own caller (a
    #: transaction that serves several calls at once, like batched numbering).
    actor: str | None = None
    request_id: str | None = None


class UnitOfWork:
    """Owns one AsyncSession and one transaction; rolls back unless committed.

    Usage::

        async with UnitOfWork(db, actor=..., request_id=...) as uow:
            ...  # uow.session reads and writes, uow.record(...) events
            await uow.commit()
    """

    def __init__(
        self,
        db: Database,
        *,
        actor: str,
        request_id: str = "",
        after_commit: Callable[[], None] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self._db = db
        #: What differs by backend (the idempotency claim's statement, for one).
        self.backend = db.backend
        self.actor = actor
        self.request_id = request_id
        self.now = datetime.now(UTC)
        self._events: list[PendingEvent | EventRecord] = []
        self._after_commit = after_commit
        self._committed = False
        self._timeout_s = timeout_s
        self.session: AsyncSession

    async def __aenter__(self) -> Self:
        self.session = self._db.write_session()
        await self.session.begin()
        if self._timeout_s is not None:
            await self._db.backend.bound_by_deadline(self.session, self._timeout_s)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()

    def record(self, event: PendingEvent) -> None:
        self._events.append(event)

    def record_rows(self, rows: Iterable[EventRecord]) -> None:
        """Events made as rows already, ids and times set (an import batch's: see
        bulk/batches.py), in order with those `record` takes."""
        self._events.extend(rows)

    async def commit(self) -> None:
        async with translate_errors():
            await self.session.flush()
            if self._events:
                await self._append_events()
            await self.session.commit()
        self._committed = True
        if self._events and self._after_commit is not None:
            self._after_commit()

    async def _append_events(self) -> None:
        """The events, in commit order (each backend says how: storage/backend.py)."""
        events = self._events
        pending = [e for e in events if type(e) is PendingEvent]
        rows: list[EventRecord] = event_rows(
            pending, actor=self.actor, request_id=self.request_id, now=self.now
        )
        if len(pending) < len(events):  # some were made as rows: keep the order
            made = iter(rows)
            rows = [next(made) if type(e) is PendingEvent else e for e in events]  # type: ignore[misc]
        await self._db.backend.append_events(self.session, rows)


def event_rows(
    events: Sequence[PendingEvent], *, actor: str, request_id: str, now: datetime
) -> list[EventRecord]:
    """Rows of the events table for `events` of one transaction by `actor`'s call."""
    return [
        EventRecord(
            event_id,
            e.aggregate_type,
            e.aggregate_id,
            e.aggregate_version,
            e.event_type,
            e.resource_type,
            e.resource,
            e.changed_fields,
            actor if e.actor is None else e.actor,
            request_id if e.request_id is None else e.request_id,
            now,
        )
        for e, event_id in zip(events, random_ids(len(events)), strict=True)
    ]
