"""The database side of a batch: one lookup of stored rows, then set-based writes.

The lookup is one query on both backends; the write is the backend's
(`Backend.write_batch`: COPY and a merge on PostgreSQL, Core statements on SQLite).
The events of a batch stay with the unit of work (`uow.record`), appended at commit
in commit order like every write's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from sqlalchemy import JSON, ColumnElement, Text, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.bulk.candidates import Candidate
from masterdata.server.bulk.planning import Plan, Stored
from masterdata.server.storage.backend import Backend
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.commodity import CommodityRow

T = TypeVar("T")
TABLE = CommodityRow.__table__
_JSON = tuple(c.key for c in TABLE.columns if isinstance(c.type, JSON))
#: The table's columns, JSON ones as their text (see _decoded).
_COLUMNS = [cast(c, Text).label(c.key) if c.key in _JSON else c for c in TABLE.columns]


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
    stmt = select(*_COLUMNS).where(condition).order_by(TABLE.c.id)
    if lock:
        stmt = stmt.with_for_update()
    async with translate_errors():
        result = await session.execute(stmt)
        return Stored.of(_decoded(result.keys(), result))


def _decoded(keys: Iterable[str], rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows as dicts, each distinct JSON text decoded once.

    Why: a batch that matches stored rows (an export re-imported) decoded sixteen
    JSON documents per row, ~25 of its ~35 us of CPU a row; the rows of a file
    repeat the same few lists and documents. Equal texts share one decoded value,
    as the candidates' memoised cells do, and neither is mutated downstream.
    """
    keys = list(keys)
    decoded: dict[str, Any] = {}
    found = []
    for values in rows:
        row = dict(zip(keys, values, strict=True))
        for key in _JSON:
            text = row[key]
            if text is not None:
                value = decoded.get(text, _UNSEEN)
                if value is _UNSEEN:
                    value = decoded[text] = json.loads(text)
                row[key] = value
        found.append(row)
    return found


_UNSEEN = object()


async def write(
    session: AsyncSession, plan: Plan, *, backend: Backend, meanwhile: Callable[[], Awaitable[T]]
) -> tuple[set[uuid.UUID], T]:
    """Write a plan's creates and updates, and call `meanwhile` while the database works.

    Returns the ids of creates a concurrent write beat, and what `meanwhile` returned.
    """
    if not plan.creates and not plan.updates:
        return set(), await meanwhile()
    updates = [row for row, _ in plan.updates]
    return await backend.write_batch(session, plan.creates, updates, meanwhile, plan.create_shapes)
