"""Stored replies of calls made with an idempotency key (resources/idempotent.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.resources.caller import IdempotencyKey
from masterdata.server.resources.ids import parse_request_id
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.events import IdempotencyKeyRow

_T = IdempotencyKeyRow.__table__
_KEY = (_T.c.request_id, _T.c.identity, _T.c.method)


def _claim(insert: Callable[[Table], Any]) -> Insert:
    """The dialect's INSERT ... ON CONFLICT (key) DO NOTHING RETURNING request_id."""
    statement = insert(_T).on_conflict_do_nothing(index_elements=list(_KEY))
    return statement.returning(_T.c.request_id)  # type: ignore[no-any-return]


#: Insert the key unless it exists; a row back means this call holds it.
_CLAIM = {"postgresql": _claim(postgresql.insert), "sqlite": _claim(sqlite.insert)}


def where_key(identity: str, key: IdempotencyKey) -> Any:
    """The SQL condition selecting `key` of `identity`."""
    return (
        (_T.c.request_id == key.request_id)
        & (_T.c.identity == identity)
        & (_T.c.method == key.method)
    )


def reused(key: IdempotencyKey) -> InvalidArgument:
    """The error of a key sent again with a different request."""
    return InvalidArgument(
        f"request_id {key.request_id} was already used with a different request",
        violations=[
            FieldViolation(
                "request_id", "was already used with a different request", "REQUEST_ID_REUSED"
            )
        ],
        reason="REQUEST_ID_REUSED",
    )


class IdempotencyStore:
    """Claims keys and records replies inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(self, identity: str, key: IdempotencyKey, now: datetime) -> bytes | None:
        """None when this call now holds `key`; else the stored reply.

        One statement in the usual case. A twin still running with the same key
        holds it uncommitted: PostgreSQL makes the insert wait for the twin's end,
        after which the stored reply is read (SQLite runs writers one at a time).
        The same key with another request's fingerprint is REQUEST_ID_REUSED.
        """
        parse_request_id(key.request_id)
        values = {
            "request_id": key.request_id,
            "identity": identity,
            "method": key.method,
            "fingerprint": key.fingerprint,
            "response": b"",
            "create_time": now,
        }
        statement = _CLAIM[self.session.bind.dialect.name]
        async with translate_errors():
            if (await self.session.execute(statement, values)).first() is not None:
                return None
            stored = (
                await self.session.execute(
                    select(_T.c.fingerprint, _T.c.response).where(where_key(identity, key))
                )
            ).one()
        if bytes(stored.fingerprint) != key.fingerprint:
            raise reused(key)
        return bytes(stored.response)

    async def complete(self, identity: str, key: IdempotencyKey, response: bytes) -> None:
        """Store the reply of the call that claimed `key`."""
        async with translate_errors():
            await self.session.execute(
                update(_T).where(where_key(identity, key)).values(response=response)
            )
