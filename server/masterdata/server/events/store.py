"""Reads of the event table: keyset pages after a sequence, filtered, as protos.

Every read is one short statement on a connection borrowed from the pool and
returned at once. Catch-up therefore walks the table page by page instead of
holding a server-side cursor (`stream()`) open: a subscriber whose client reads
slowly would otherwise pin a pooled connection for as long as grpc flow control
keeps it waiting, and a few hundred such subscribers would exhaust the pool.

Positions are safe to advance past the last row read because event appends are
serialised in commit order (see storage/postgres/__init__.py): once a sequence is visible,
every lower sequence that will ever commit is visible too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import any_pb2, field_mask_pb2
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from masterdata.server.storage.base import utc
from masterdata.server.storage.models.events import EventRow
from masterdata.v1 import events_pb2

TYPE_URL_PREFIX = "type.googleapis.com/"
_T = EventRow.__table__.c


@dataclass(frozen=True)
class EventFilter:
    """Which events a reader wants; empty sets mean "all"."""

    aggregate_types: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()
    aggregate_id: uuid.UUID | None = None

    @property
    def is_everything(self) -> bool:
        return not (self.aggregate_types or self.event_types or self.aggregate_id)

    def matches(self, event: events_pb2.Event) -> bool:
        """The same test as `clauses`, for events already in memory (shared batches)."""
        return (
            (not self.aggregate_types or event.aggregate_type in self.aggregate_types)
            and (not self.event_types or event.event_type in self.event_types)
            and (self.aggregate_id is None or event.aggregate_id == str(self.aggregate_id))
        )

    def clauses(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        if self.aggregate_types:
            where.append(_T.aggregate_type.in_(sorted(self.aggregate_types)))
        if self.event_types:
            where.append(_T.event_type.in_(sorted(self.event_types)))
        if self.aggregate_id is not None:
            where.append(_T.aggregate_id == self.aggregate_id)
        return where


EVERYTHING = EventFilter()


class SqlEventStore:
    """Event reads on one engine; `queries` counts statements (for the benchmark)."""

    def __init__(self, engine: AsyncEngine, *, owns_engine: bool = False) -> None:
        self._engine = engine
        self._owns_engine = owns_engine
        self.queries = 0

    async def close(self) -> None:
        """Dispose of the engine if it was made for this store alone."""
        if self._owns_engine:
            await self._engine.dispose()

    async def select_events(
        self,
        *,
        gt: int,
        limit: int,
        lte: int | None = None,
        where: EventFilter = EVERYTHING,
    ) -> list[events_pb2.Event]:
        """Events with gt < sequence (<= lte), matching `where`, in sequence order."""
        stmt = _page(gt, limit, lte, where)
        rows = await self._fetch(stmt)
        return [to_event(row) for row in rows]

    async def max_sequence(self) -> int:
        """The highest committed sequence, 0 for an empty feed."""
        rows = await self._fetch(select(func.coalesce(func.max(_T.sequence), 0)))
        return int(rows[0][0])

    async def _fetch(self, stmt: Select[Any]) -> Sequence[Any]:
        self.queries += 1
        async with self._engine.connect() as conn:
            rows: Sequence[Any] = (await conn.execute(stmt)).all()
            return rows


def _page(gt: int, limit: int, lte: int | None, where: EventFilter) -> Select[Any]:
    stmt = select(EventRow.__table__).where(_T.sequence > gt, *where.clauses())
    if lte is not None:
        stmt = stmt.where(_T.sequence <= lte)
    return stmt.order_by(_T.sequence).limit(limit)


def to_event(row: Any) -> events_pb2.Event:
    """An event row as the API message; the resource travels as an Any.

    The Any's type URL names the stored message type, so grpcurl (through
    reflection) and clients can unpack it without knowing the event type.
    """
    event = events_pb2.Event(
        sequence=row.sequence,
        event_id=str(row.event_id),
        aggregate_type=row.aggregate_type,
        aggregate_id=str(row.aggregate_id),
        aggregate_version=row.aggregate_version,
        event_type=row.event_type,
        resource=any_pb2.Any(type_url=TYPE_URL_PREFIX + row.resource_type, value=row.resource),
        actor=row.actor,
        request_id=row.request_id,
    )
    if row.changed_fields:
        event.changed_fields.CopyFrom(field_mask_pb2.FieldMask(paths=list(row.changed_fields)))
    event.occur_time.FromDatetime(utc(row.occur_time))
    return event
