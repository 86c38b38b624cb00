"""Stored responses of calls made with a request_id (DESIGN.md section 3)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.db.errors import translate_errors
from masterdata.server.db.models.events import IdempotencyKeyRow
from masterdata.server.domain.errors import InvalidArgument

_T = IdempotencyKeyRow.__table__


def _claim(insert: Callable[[Table], Any]) -> Insert:
    """The dialect's INSERT ... ON CONFLICT (request_id) DO NOTHING RETURNING request_id."""
    statement = insert(_T).on_conflict_do_nothing(index_elements=[_T.c.request_id])
    return statement.returning(_T.c.request_id)  # type: ignore[no-any-return]


#: Insert the key unless it exists; a row back means this call holds it.
_CLAIM = {"postgresql": _claim(postgresql.insert), "sqlite": _claim(sqlite.insert)}
_STORED = select(_T.c.method, _T.c.response)
_COMPLETE = update(_T)


class IdempotencyStore:
    """Claims request_ids and records responses inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, request_id: str, method: str, now: datetime) -> bytes | None:
        """None when this call now holds `request_id`; else the stored response.

        One statement in the usual case. A twin still running with the same key
        holds it uncommitted: PostgreSQL makes the insert wait for the twin's end,
        after which the stored response is read (SQLite runs writers one at a time).
        A request_id used before for another method is an error.
        """
        values = {"request_id": request_id, "method": method, "response": b"", "create_time": now}
        statement = _CLAIM[self.session.bind.dialect.name]
        async with translate_errors():
            if (await self.session.execute(statement, values)).first() is not None:
                return None
            stored = (
                await self.session.execute(_STORED.where(_T.c.request_id == request_id))
            ).one()
        if stored.method != method:
            raise InvalidArgument(
                f"request_id {request_id} was already used for {stored.method}",
                reason="REQUEST_ID_REUSED",
            )
        return bytes(stored.response)

    async def complete(self, request_id: str, response: bytes) -> None:
        """Store the response of the call that claimed `request_id`."""
        async with translate_errors():
            await self.session.execute(
                _COMPLETE.where(_T.c.request_id == request_id).values(response=response)
            )
