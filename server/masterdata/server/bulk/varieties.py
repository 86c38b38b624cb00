"""The Varieties column of an import: each commodity's varieties by name.

An export writes a commodity's live varieties as their names joined by ";"
(`join_names`); an import reads the cell back (`parse_cell`) and, per named
variety of its commodity: creates it when no live variety has that name
(case-insensitively, as the live-uniqueness index compares), renames it when
only the case differs, and leaves it alone when it is the same. Varieties the
cell does not name are not touched: an import never deletes. The writes go
through the same Core statements as CreateVariety and UpdateVariety, and the
events are made by the same `record_event`, so they carry the same content.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.bulk.cells import CellError
from masterdata.server.domain import text as text_rule
from masterdata.server.families.commodities.specs import VARIETY
from masterdata.server.resources.standard import record_event
from masterdata.server.storage.backend import Backend
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.unit_of_work import UnitOfWork

TABLE = VARIETY.model.__table__
_NAME_LENGTH: int = TABLE.c.name.type.length
_INSERT = insert(TABLE).returning(*TABLE.c)
_RENAME = update(TABLE).where(TABLE.c.id == bindparam("where_id"))
_ESCAPE = "\\"


def join_names(names: Iterable[str]) -> str:
    """Names as one cell: ";" between them, a ";" or backslash inside a name escaped."""
    return ";".join(_escaped(name) for name in names)


def _escaped(name: str) -> str:
    if _ESCAPE not in name and ";" not in name:
        return name
    return name.replace(_ESCAPE, _ESCAPE * 2).replace(";", _ESCAPE + ";")


def split_names(text: str) -> list[str]:
    """The names of a Varieties cell (the reverse of `join_names`)."""
    if _ESCAPE not in text:
        return text.split(";")
    names: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == _ESCAPE:
            current.append(next(chars, _ESCAPE))
        elif char == ";":
            names.append("".join(current))
            current = []
        else:
            current.append(char)
    names.append("".join(current))
    return names


def parse_cell(text: str) -> tuple[str, ...]:
    """A Varieties cell -> its names (stripped, as the API stores them; blanks skipped)."""
    if text_rule.UNSTORABLE in text:
        raise CellError(text_rule.REASON, text_rule.DESCRIPTION)
    names = tuple(name for name in (n.strip() for n in split_names(text)) if name)
    seen: set[str] = set()
    for name in names:
        if len(name) > _NAME_LENGTH:
            raise CellError("TOO_LONG", f"variety names must be at most {_NAME_LENGTH} characters")
        if name.lower() in seen:
            raise CellError("DUPLICATE_VARIETY", f"names the variety {name[:40]!r} twice")
        seen.add(name.lower())
    return names


@dataclass
class VarietyCounts:
    """Varieties a batch created and renamed."""

    created: int = 0
    updated: int = 0


async def apply(
    session: AsyncSession,
    wanted: Sequence[tuple[uuid.UUID, tuple[str, ...]]],
    *,
    backend: Backend,
    uow: UnitOfWork | None,
) -> VarietyCounts:
    """Create and rename the varieties of a batch's commodities; count only without `uow`.

    One query reads the live varieties of the batch's commodities (locked when
    writing: their commodities are locked too, so no concurrent call adds one).
    """
    counts = VarietyCounts()
    if not wanted:
        return counts
    stored = await _live_varieties(
        session, {key for key, _ in wanted}, backend, lock=uow is not None
    )
    creates: list[dict[str, Any]] = []
    renames: list[tuple[Any, str]] = []
    for commodity_id, names in wanted:
        existing = stored.get(commodity_id, {})
        for name in names:
            row = existing.get(name.lower())
            if row is None:
                creates.append({"commodity_id": commodity_id, "name": name})
            elif row.name != name:
                renames.append((row, name))
    counts.created, counts.updated = len(creates), len(renames)
    if uow is not None:
        await _write(uow, creates, renames)
    return counts


async def _live_varieties(
    session: AsyncSession, commodities: set[uuid.UUID], backend: Backend, *, lock: bool
) -> dict[uuid.UUID, dict[str, Any]]:
    """Live varieties by commodity, then by lower(name)."""
    stmt = (
        select(TABLE)
        .where(backend.any_of(TABLE.c.commodity_id, commodities, TABLE.c.commodity_id.type))
        .where(TABLE.c.delete_time.is_(None))
        .order_by(TABLE.c.id)
    )
    if lock:
        stmt = stmt.with_for_update()
    found: dict[uuid.UUID, dict[str, Any]] = {}
    async with translate_errors():
        for row in await session.execute(stmt):
            found.setdefault(row.commodity_id, {})[row.name.lower()] = row
    return found


async def _write(
    uow: UnitOfWork, creates: list[dict[str, Any]], renames: list[tuple[Any, str]]
) -> None:
    """The writes of CreateVariety and UpdateVariety (name), with their events."""
    audit = {
        "create_time": uow.now,
        "update_time": uow.now,
        "created_by": uow.actor,
        "updated_by": uow.actor,
        "revision": 1,
    }
    session = uow.session
    async with translate_errors():
        if creates:
            rows = [{"id": uuid.uuid4(), **audit, **values} for values in creates]
            result = await session.execute(_INSERT, rows)
            # RETURNING of a multi-row insert is in no guaranteed order: events in file order.
            by_id = {row.id: row for row in result.mappings()}
            for values in rows:
                record_event(uow, VARIETY, SimpleNamespace(**by_id[values["id"]]), "created")
        if renames:
            touched = {"update_time": uow.now, "updated_by": uow.actor}
            changed = [
                SimpleNamespace(**(dict(row._mapping) | touched | {"name": name}))
                for row, name in renames
            ]
            for row in changed:
                row.revision += 1
            keys = ("name", "update_time", "updated_by", "revision")
            params = [{"where_id": row.id, **{k: getattr(row, k) for k in keys}} for row in changed]
            await session.execute(_RENAME, params)
            for row in changed:
                record_event(uow, VARIETY, row, "updated", ["name"])
