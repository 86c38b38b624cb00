"""The database side of a batch: one lookup of stored rows, then set-based writes.

The lookup is one query on both backends; the write is the backend's
(`Backend.write_batch`: COPY and a merge on PostgreSQL, Core statements on SQLite).
The events of a batch stay with the unit of work (`uow.record`), appended at commit
in commit order like every write's.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy import ColumnElement, Text, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.bulk.candidates import Candidate
from masterdata.server.bulk.planning import Plan, Stored
from masterdata.server.storage.backend import Backend
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.commodity import CommodityRow

T = TypeVar("T")
TABLE = CommodityRow.__table__


async def find_stored(
    session: AsyncSession,
    candidates: Sequence[Candidate],
    *,
    upsert: bool,
    lock: bool,
    backend: Backend,
) -> Stored:
    """The one query of a batch: rows named by id (UPSERT) or by live (lower(name), category).

    Matching lower(name) alone uses the live-uniqueness index; rows of another
    category come back too and are told apart in memory. With `lock`, rows are
    locked in id order, so concurrent imports of overlapping rows queue instead
    of deadlocking, and no one changes a matched row before this batch commits.
    The names and ids are compared with `backend.any_of` (two array parameters on
    PostgreSQL).
    """
    ids = {c.id for c in candidates if c.id is not None} if upsert else set()
    names = {c.key[0] for c in candidates}
    if not ids and not names:
        return Stored({}, {})
    live = TABLE.c.delete_time.is_(None)
    condition: ColumnElement[bool] = backend.any_of(func.lower(TABLE.c.name), names, Text()) & live
    if ids:
        condition = or_(backend.any_of(TABLE.c.id, ids, TABLE.c.id.type), condition)
    stmt = select(TABLE).where(condition).order_by(TABLE.c.id)
    if lock:
        stmt = stmt.with_for_update()
    async with translate_errors():
        result = await session.execute(stmt)
        return Stored.of(dict(row._mapping) for row in result)


async def write(
    session: AsyncSession, plan: Plan, *, backend: Backend, meanwhile: Callable[[], Awaitable[T]]
) -> tuple[set[uuid.UUID], T]:
    """Write a plan's creates and updates, and call `meanwhile` while the database works.

    Returns the ids of creates a concurrent write beat, and what `meanwhile` returned.
    """
    if not plan.creates and not plan.updates:
        return set(), await meanwhile()
    updates = [row for row, _ in plan.updates]
    return await backend.write_batch(session, plan.creates, updates, meanwhile)
