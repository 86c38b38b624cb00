"""Stored replies of calls made with an idempotency key (resources/idempotent.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.resources.caller import IdempotencyKey
from masterdata.server.resources.ids import parse_request_id
from masterdata.server.storage.backend import Backend
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.events import IdempotencyKeyRow

_T = IdempotencyKeyRow.__table__


_KEY_COLUMNS = ("request_id", "identity", "method")
#: Per backend class: insert the key unless it exists; a row back means the call holds it.
_CLAIMS: dict[type[Backend], Insert] = {}


def where_key(identity: str, key: IdempotencyKey) -> Any:
    """The SQL condition selecting `key` of `identity`."""
    return (
        (_T.c.request_id == key.request_id)
        & (_T.c.identity == identity)
        & (_T.c.method == key.method)
    )


async def stored_reply(
    session: AsyncSession, identity: str, key: IdempotencyKey, *, lock: bool = False
) -> bytes | None:
    """The reply stored under `key` (None without one); REQUEST_ID_REUSED when it was
    stored for another request. A request_id that is no UUID is refused first."""
    parse_request_id(key.request_id)
    stmt = select(_T.c.fingerprint, _T.c.response).where(where_key(identity, key))
    if lock:
        stmt = stmt.with_for_update()
    async with translate_errors():
        row = (await session.execute(stmt)).one_or_none()
    if row is None:
        return None
    if bytes(row.fingerprint) != key.fingerprint:
        raise _reused(key)
    return bytes(row.response)


def _reused(key: IdempotencyKey) -> InvalidArgument:
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

    def __init__(self, session: AsyncSession, backend: Backend) -> None:
        self.session = session
        kind = type(backend)
        claim = _CLAIMS.get(kind)
        if claim is None:
            claim = _CLAIMS[kind] = backend.insert_unless_present(_T, _KEY_COLUMNS)
        self._claim = claim

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
        async with translate_errors():
            if (await self.session.execute(self._claim, values)).first() is not None:
                return None
        return await stored_reply(self.session, identity, key)

    async def complete(self, identity: str, key: IdempotencyKey, response: bytes) -> None:
        """Store the reply of the call that claimed `key`."""
        async with translate_errors():
            await self.session.execute(
                update(_T).where(where_key(identity, key)).values(response=response)
            )
