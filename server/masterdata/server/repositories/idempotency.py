"""Stored responses of calls made with a request_id (DESIGN.md section 3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.db.errors import translate_errors
from masterdata.server.db.models.events import IdempotencyKeyRow
from masterdata.server.domain.errors import InvalidArgument


class IdempotencyStore:
    """Looks up and records responses by request_id inside the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, request_id: str, method: str) -> bytes | None:
        """The stored response, or None; a request_id reused for another method is an error."""
        async with translate_errors():
            row = await self.session.get(IdempotencyKeyRow, request_id)
        if row is None:
            return None
        if row.method != method:
            raise InvalidArgument(
                f"request_id {request_id} was already used for {row.method}",
                reason="REQUEST_ID_REUSED",
            )
        return row.response

    def remember(self, request_id: str, method: str, response: bytes, now: datetime) -> None:
        self.session.add(
            IdempotencyKeyRow(
                request_id=request_id, method=method, response=response, create_time=now
            )
        )

    async def complete(self, request_id: str, response: bytes) -> None:
        """Store the response of a call whose key was claimed with `remember`."""
        row = await self.session.get(IdempotencyKeyRow, request_id)
        assert row is not None, "complete() without remember()"
        row.response = response
