"""The one async repository every resource uses: reads by id, pages, row locks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.domain.errors import NotFound
from masterdata.server.storage.errors import translate_errors


class ResourceRepository:
    """Reads and locks rows of one model inside a caller-owned session."""

    def __init__(self, session: AsyncSession, model: type[Any], kind: str) -> None:
        self.session = session
        self.model = model
        self.kind = kind

    async def get(self, id_: uuid.UUID, *, for_update: bool = False) -> Any:
        """The row with this id, deleted or not; NOT_FOUND when there is none.

        `for_update` takes a row lock on PostgreSQL so that concurrent writers of
        the same row queue up (SQLite writers are already serialised).
        """
        stmt = select(self.model).where(self.model.id == id_)
        if for_update:
            stmt = stmt.with_for_update()
        async with translate_errors():
            row = (await self.session.execute(stmt)).scalar_one_or_none()
        return self._found(row, id_)

    async def values(self, id_: uuid.UUID, *, for_update: bool = False) -> Any:
        """Like `get`, but the row's columns as plain attributes, read through Core.

        For a write that knows its changes: the ORM's loading, identity map and
        change tracking cost ~0.4 ms a call for one row.
        """
        table = self.model.__table__
        stmt = select(table).where(table.c.id == id_)
        if for_update:
            stmt = stmt.with_for_update()
        async with translate_errors():
            found = (await self.session.execute(stmt)).mappings().one_or_none()
        return self._found(None if found is None else SimpleNamespace(**found), id_)

    def _found(self, row: Any | None, id_: uuid.UUID) -> Any:
        if row is None:
            raise no_such(self.kind, id_)
        return row

    async def page(
        self,
        *,
        where: Sequence[ColumnElement[bool]],
        order_by: Sequence[Any],
        limit: int,
    ) -> list[Any]:
        stmt = select(self.model).where(*where).order_by(*order_by).limit(limit)
        async with translate_errors():
            return list((await self.session.execute(stmt)).scalars())


def no_such(kind: str, id_: uuid.UUID) -> NotFound:
    """NOT_FOUND for a `kind` row with this id (deleted or not)."""
    return NotFound(
        f"{kind} {id_} does not exist",
        reason=f"{kind.upper()}_NOT_FOUND",
        metadata={"id": str(id_)},
    )
