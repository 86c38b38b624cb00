"""Forget stored replies of request_ids older than the retention (at least 24 h).

Without it the idempotency_keys table grows by one row per write that carries a
request_id, for ever. Every server process purges on its own schedule; the DELETE
is idempotent, so workers and replicas need no coordination.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete

from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.events import IdempotencyKeyRow

log = logging.getLogger("masterdata.server")


async def purge_expired(db: Database, retention: timedelta) -> int:
    """Delete the keys created more than `retention` ago; how many were deleted."""
    cutoff = datetime.now(UTC) - retention
    async with db.writer.begin() as conn:
        result = await conn.execute(
            delete(IdempotencyKeyRow).where(IdempotencyKeyRow.create_time < cutoff)
        )
    return int(result.rowcount or 0)


async def purge_periodically(db: Database, retention: timedelta, interval_s: float) -> None:
    """Purge at start and every `interval_s`; a failure (an outage) waits for the next turn."""
    while True:
        try:
            deleted = await purge_expired(db, retention)
        except Exception as error:  # the database may be down; the next turn retries
            log.warning("purging expired request ids failed: %s", error)
        else:
            if deleted:
                log.info("purged %d expired request ids", deleted)
        await asyncio.sleep(interval_s)
