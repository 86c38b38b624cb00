"""An import batch on PostgreSQL: binary COPY into a staging table, then one merge.

Why COPY + merge (scratch runs on the shared 2-CPU host, 30,000 commodity rows in
batches of 500-1,000; bench/bulk_import.py has the in-run baselines): SQLAlchemy
Core `insert(table)` with a list of rows (insertmanyvalues) wrote ~12,000 rows/s,
~90 % of it client-side Python, above all the bind processing of the 16 JSON
columns of every row. asyncpg's binary COPY into a temporary staging table (see
staging.py for its shape), followed by one `INSERT ... SELECT ... ON CONFLICT DO
NOTHING RETURNING id`, costs a fraction of that in Python. The merge is kept for
what it buys: a commodity created by a concurrent caller between this batch's
lookup and its write becomes that row's DUPLICATE_NAME instead of failing the
batch; COPY straight into commodities measured no faster (35 ms against 12 + 19 ms
for 1,000 rows). Updates merge from the same staging rows with one `UPDATE ... FROM`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.domain.errors import Aborted, Unavailable
from masterdata.server.resources.activity import sliced
from masterdata.server.storage.errors import translate
from masterdata.server.storage.postgres import staging

T = TypeVar("T")
R = TypeVar("R")
#: unique_violation: a concurrent write beat the merge to a key.
_UNIQUE_VIOLATION = "23505"


async def write_batch(
    session: AsyncSession,
    creates: Sequence[dict[str, Any]],
    updates: Sequence[dict[str, Any]],
    meanwhile: Callable[[], Awaitable[T]],
) -> tuple[set[uuid.UUID], T]:
    """COPY the batch's rows into staging and merge them, overlapped with `meanwhile`."""
    connection = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection = connection.driver_connection  # type: ignore[assignment]
    assert driver.is_in_transaction(), "a batch writes inside its unit of work"
    rows = [*creates, *updates]
    async with _driver_errors():
        await driver.execute(staging.CREATE_STAGING)
        records = await sliced(rows, staging.records)
        await driver.copy_records_to_table(
            staging.STAGING, records=records, columns=staging.COPY_COLUMNS
        )
        return await _overlapped(_merge(driver, creates, bool(updates)), meanwhile)


async def _merge(
    driver: asyncpg.Connection, creates: Sequence[dict[str, Any]], updates: bool
) -> set[uuid.UUID]:
    inserted = await driver.fetch(staging.MERGE_CREATES) if creates else []
    if updates:
        await driver.execute(staging.MERGE_UPDATES)
    await driver.execute(staging.CLEAR_STAGING)
    created = {record["id"] for record in inserted}
    return {row["id"] for row in creates if row["id"] not in created}


async def _overlapped(
    work: Coroutine[Any, Any, R], meanwhile: Callable[[], Awaitable[T]]
) -> tuple[R, T]:
    """Await `meanwhile` (CPU) while the server runs `work`'s statement; both results.

    Why: the merge keeps the server busy ~19 ms per 1,000 rows, the events'
    messages keep Python busy ~17 ms; one after the other they added up. The
    work is started and given one turn of the loop, which sends its (prepared)
    statement; it is never left running on the connection past this call.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.sleep(0)
        result = await meanwhile()
        return await task, result
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait([task])


@asynccontextmanager
async def _driver_errors() -> AsyncIterator[None]:
    """asyncpg's own errors (COPY runs on the driver) in the domain error tree."""
    try:
        yield
    except asyncpg.PostgresError as error:
        if getattr(error, "sqlstate", "") == _UNIQUE_VIOLATION:
            raise Aborted(
                "a concurrent write conflicted with the import; retry", reason="CONFLICT"
            ) from error
        domain = translate(error)
        if domain is None:
            raise
        raise domain from error
    except (OSError, asyncpg.InterfaceError) as error:
        raise Unavailable("the database is unavailable; retry later") from error
