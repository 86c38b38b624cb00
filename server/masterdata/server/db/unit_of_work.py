"""One transaction per write call, with its events appended inside it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.db.engine import Database
from masterdata.server.db.errors import translate_errors
from masterdata.server.db.models.events import EventRow

#: pg_advisory_xact_lock key that serialises event appends (ASCII "mdevents").
EVENT_APPEND_LOCK = 0x6D646576656E7473
#: NOTIFY channel that wakes event-feed readers in every server process.
EVENT_CHANNEL = "masterdata_events"


@dataclass(frozen=True)
class PendingEvent:
    """An event recorded during a unit of work, written at commit."""

    aggregate_type: str
    aggregate_id: uuid.UUID
    aggregate_version: int
    event_type: str
    resource_type: str
    resource: bytes
    changed_fields: Sequence[str] = ()


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
        self.actor = actor
        self.request_id = request_id
        self.now = datetime.now(UTC)
        self._events: list[PendingEvent] = []
        self._after_commit = after_commit
        self._committed = False
        self._timeout_s = timeout_s
        self.session: AsyncSession

    async def __aenter__(self) -> Self:
        self.session = self._db.write_session()
        await self.session.begin()
        if self._timeout_s is not None and self._db.is_postgres:
            await self._bound_by_deadline(self._timeout_s)
        return self

    async def _bound_by_deadline(self, seconds: float) -> None:
        """Statements and lock waits of this transaction end when the caller gives up."""
        milliseconds = str(max(1, int(seconds * 1000)))
        async with translate_errors():
            await self.session.execute(
                select(
                    func.set_config("statement_timeout", milliseconds, True),
                    func.set_config("lock_timeout", milliseconds, True),
                )
            )

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
        # Why the lock: PostgreSQL hands out sequence values when rows are inserted,
        # not when transactions commit, so two writers can commit out of sequence
        # order. A feed reader that has seen sequence 11 (committed first) would then
        # never look back for 10 (committed later). Taking one transaction-scoped
        # advisory lock right before the events are inserted, and holding it until
        # commit, makes "insert events, commit" a critical section: sequence order is
        # commit order. The lock is taken last, after all other work of the
        # transaction, so it is held only for the insert and the commit itself.
        # SQLite needs no lock: its writers are already serialised (BEGIN IMMEDIATE).
        if self._db.is_postgres:
            # One round trip: the NOTIFY is only delivered at commit anyway.
            await self.session.execute(
                select(
                    func.pg_advisory_xact_lock(EVENT_APPEND_LOCK),
                    func.pg_notify(EVENT_CHANNEL, ""),
                )
            )
        await self.session.execute(
            insert(EventRow),
            [
                {
                    "event_id": uuid.uuid4(),
                    "aggregate_type": e.aggregate_type,
                    "aggregate_id": e.aggregate_id,
                    "aggregate_version": e.aggregate_version,
                    "event_type": e.event_type,
                    "resource_type": e.resource_type,
                    "resource": e.resource,
                    "changed_fields": list(e.changed_fields),
                    "actor": self.actor,
                    "request_id": self.request_id,
                    "occur_time": self.now,
                }
                for e in self._events
            ],
        )
