"""One transaction per write call, with its events appended inside it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.storage.engine import Database
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.events import EventRow
from masterdata.server.storage.random_ids import random_ids

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
            connection = await self.session.connection()
            await connection.exec_driver_sql(_BOUND_BY_DEADLINE, (milliseconds,))

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
        if self._db.is_postgres:
            await self._append_events_postgres()
            return
        # SQLite needs no lock: its writers are already serialised (BEGIN IMMEDIATE).
        await self.session.execute(
            insert(EventRow),
            [
                {
                    "event_id": event_id,
                    "aggregate_type": e.aggregate_type,
                    "aggregate_id": e.aggregate_id,
                    "aggregate_version": e.aggregate_version,
                    "event_type": e.event_type,
                    "resource_type": e.resource_type,
                    "resource": e.resource,
                    "changed_fields": list(e.changed_fields),
                    "actor": self.actor if e.actor is None else e.actor,
                    "request_id": self.request_id if e.request_id is None else e.request_id,
                    "occur_time": self.now,
                }
                for e, event_id in zip(self._events, random_ids(len(self._events)), strict=True)
            ],
        )

    async def _append_events_postgres(self) -> None:
        """The events in one statement, straight on the transaction's asyncpg connection.

        Every write ends with this statement; run through SQLAlchemy it cost ~0.15 ms
        more CPU (measured with bench/document_numbers.py).
        """
        connection = await self.session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        if not driver.is_in_transaction():  # nothing ran yet: SQLAlchemy begins lazily
            await connection.exec_driver_sql("SELECT 1")
        await driver.execute(_INSERT_AFTER_EVENT_LOCK, *self._event_arrays())

    def _event_arrays(self) -> tuple[Any, ...]:
        """The parameters of _INSERT_AFTER_EVENT_LOCK: one array per event column."""
        events = self._events
        return (
            EVENT_APPEND_LOCK,
            EVENT_CHANNEL,
            random_ids(len(events)),
            [e.aggregate_type for e in events],
            [e.aggregate_id for e in events],
            [e.aggregate_version for e in events],
            [e.event_type for e in events],
            [e.resource_type for e in events],
            [e.resource for e in events],
            [json.dumps(list(e.changed_fields)) for e in events],
            [self.actor if e.actor is None else e.actor for e in events],
            [self.request_id if e.request_id is None else e.request_id for e in events],
            self.now,
        )


#: Transaction-local timeouts (set_config(..., true) is SET LOCAL), as driver SQL: the
#: first statement of every PostgreSQL write, it skips SQLAlchemy's statement compilation.
_BOUND_BY_DEADLINE = (
    "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $1, true)"
)

#: The PostgreSQL append of a unit of work's events: one statement, prepared once per connection.
#:
#: Why the lock: PostgreSQL hands out sequence values when rows are inserted, not
#: when transactions commit, so two writers can commit out of sequence order. A feed
#: reader that has seen sequence 11 (committed first) would then never look back for
#: 10 (committed later). A transaction-scoped advisory lock taken right before the
#: events are inserted, and held until commit, makes "insert events, commit" a
#: critical section: sequence order is commit order. It is taken last, after all
#: other work of the transaction, so it is held only for this statement and the
#: commit; the NOTIFY that wakes feed readers is delivered at commit.
#:
#: The lock lives in a MATERIALIZED CTE joined to the new rows: no row — and so no
#: sequence value, drawn as each row is inserted — exists before the CTE has been
#: scanned, that is, before the lock is held. The rows arrive as arrays (unnest), so
#: any number of events is one prepared statement with a fixed set of parameters, and
#: one round trip instead of two shortens the time every writer holds its row locks.
_INSERT_AFTER_EVENT_LOCK = """
WITH event_append_lock AS MATERIALIZED (
    SELECT pg_advisory_xact_lock($1::bigint), pg_notify($2::text, '')
)
INSERT INTO events (
    event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
    resource_type, resource, changed_fields, actor, request_id, occur_time
)
SELECT e.event_id, e.aggregate_type, e.aggregate_id, e.aggregate_version, e.event_type,
       e.resource_type, e.resource, e.changed_fields::jsonb, e.actor, e.request_id,
       $13::timestamptz
FROM unnest(
    $3::uuid[], $4::text[], $5::uuid[], $6::bigint[], $7::text[], $8::text[],
    $9::bytea[], $10::text[], $11::text[], $12::text[]
) AS e(event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
       resource_type, resource, changed_fields, actor, request_id)
CROSS JOIN event_append_lock
"""
