"""One transaction per write call, with its events appended inside it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import (
    BigInteger,
    DateTime,
    LargeBinary,
    String,
    Uuid,
    bindparam,
    insert,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
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
            await self.session.execute(_BOUND_BY_DEADLINE, {"ms": milliseconds})

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
            await self.session.execute(_INSERT_AFTER_EVENT_LOCK, self._event_arrays())
            return
        # SQLite needs no lock: its writers are already serialised (BEGIN IMMEDIATE).
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

    def _event_arrays(self) -> dict[str, Any]:
        """The parameters of _INSERT_AFTER_EVENT_LOCK: one array per column."""
        events = self._events
        return {
            "lock_key": EVENT_APPEND_LOCK,
            "channel": EVENT_CHANNEL,
            "event_ids": [uuid.uuid4() for _ in events],
            "aggregate_types": [e.aggregate_type for e in events],
            "aggregate_ids": [e.aggregate_id for e in events],
            "aggregate_versions": [e.aggregate_version for e in events],
            "event_types": [e.event_type for e in events],
            "resource_types": [e.resource_type for e in events],
            "resources": [e.resource for e in events],
            "changed_fields": [json.dumps(list(e.changed_fields)) for e in events],
            "actor": self.actor,
            "request_id": self.request_id,
            "occur_time": self.now,
        }


#: Transaction-local timeouts (set_config(..., true) is SET LOCAL), compiled once.
_BOUND_BY_DEADLINE = text(
    "SELECT set_config('statement_timeout', :ms, true), set_config('lock_timeout', :ms, true)"
)

#: The PostgreSQL append of a unit of work's events: one statement, compiled once.
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
#: any number of events is one cached statement with a fixed set of parameters, and
#: one round trip instead of two shortens the time every writer holds its row locks.
_INSERT_AFTER_EVENT_LOCK = text(
    """
    WITH event_append_lock AS MATERIALIZED (
        SELECT pg_advisory_xact_lock(:lock_key), pg_notify(:channel, '')
    )
    INSERT INTO events (
        event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
        resource_type, resource, changed_fields, actor, request_id, occur_time
    )
    SELECT e.event_id, e.aggregate_type, e.aggregate_id, e.aggregate_version,
           e.event_type, e.resource_type, e.resource, CAST(e.changed_fields AS jsonb),
           :actor, :request_id, :occur_time
    FROM unnest(
        :event_ids, :aggregate_types, :aggregate_ids, :aggregate_versions,
        :event_types, :resource_types, :resources, :changed_fields
    ) AS e(event_id, aggregate_type, aggregate_id, aggregate_version,
           event_type, resource_type, resource, changed_fields)
    CROSS JOIN event_append_lock
    """
).bindparams(
    bindparam("lock_key", type_=BigInteger),
    bindparam("channel", type_=String),
    bindparam("event_ids", type_=ARRAY(Uuid)),
    bindparam("aggregate_types", type_=ARRAY(String)),
    bindparam("aggregate_ids", type_=ARRAY(Uuid)),
    bindparam("aggregate_versions", type_=ARRAY(BigInteger)),
    bindparam("event_types", type_=ARRAY(String)),
    bindparam("resource_types", type_=ARRAY(String)),
    bindparam("resources", type_=ARRAY(LargeBinary)),
    bindparam("changed_fields", type_=ARRAY(String)),
    bindparam("actor", type_=String),
    bindparam("request_id", type_=String),
    bindparam("occur_time", type_=DateTime(timezone=True)),
)
