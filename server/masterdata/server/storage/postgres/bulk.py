"""An import batch on PostgreSQL: COPY (text) of its creates, a staged merge of its updates.

Why COPY (scratch runs on the shared 2-CPU host, 30,000 commodity rows in batches
of 500-1,000; bench/bulk_import.py has the in-run floor): SQLAlchemy Core
`insert(table)` with a list of rows (insertmanyvalues) wrote ~12,000 rows/s, ~90 %
of it client-side Python, above all the bind processing of the 16 JSON columns of
every row. Creates are COPYed straight into commodities (JSON as text: see
staging.py), under a savepoint: a commodity created by a concurrent caller between
this batch's lookup and its write fails the COPY, which is then undone and the
batch merged instead - through a staging table and one `INSERT ... SELECT ... ON
CONFLICT DO NOTHING RETURNING id` - so that such a row becomes its DUPLICATE_NAME
instead of failing the batch. Staging and merging every batch cost the database a
second write and read of each row. Updates merge from staging with one
`UPDATE ... FROM`.
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
_SAVEPOINT = "SAVEPOINT import_creates"
_ROLLBACK_TO_SAVEPOINT = "ROLLBACK TO SAVEPOINT import_creates"
_RELEASE_SAVEPOINT = "RELEASE SAVEPOINT import_creates"


async def write_batch(
    session: AsyncSession,
    creates: Sequence[dict[str, Any]],
    updates: Sequence[dict[str, Any]],
    meanwhile: Callable[[], Awaitable[T]],
    create_shapes: Sequence[Any] = (),
) -> tuple[set[uuid.UUID], T]:
    """COPY the batch's rows into staging and merge them, overlapped with `meanwhile`."""
    connection = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection = connection.driver_connection  # type: ignore[assignment]
    assert driver.is_in_transaction(), "a batch writes inside its unit of work"
    async with _driver_errors():
        shapes = create_shapes or [None] * len(creates)
        created = await sliced(list(zip(creates, shapes, strict=True)), staging.records)
        changed = await sliced([(row, None) for row in updates], staging.records)
        return await _overlapped(_write(driver, created, changed), meanwhile)


async def _write(
    driver: asyncpg.Connection, creates: list[str], updates: list[str]
) -> set[uuid.UUID]:
    """Creates by COPY into commodities, falling back to the merge; updates by the merge."""
    lost: set[uuid.UUID] = set()
    if creates and not await _copy_creates(driver, creates):
        lost = await _merge(driver, creates, staging.MERGE_CREATES)
    if updates:
        await _merge(driver, updates, staging.MERGE_UPDATES)
    return lost


async def _copy_creates(driver: asyncpg.Connection, records: list[str]) -> bool:
    """COPY the creates straight into commodities; False if one's key was taken meanwhile.

    Why: staging the rows and merging them cost the database a second write and
    read of every row. A key taken between the batch's lookup and this COPY (a
    concurrent create) is rare; then the COPY is undone to its savepoint and the
    merge, which skips such rows, writes the batch instead.
    """
    await driver.execute(_SAVEPOINT)
    try:
        await driver.copy_to_table(
            "commodities", source=staging.text(records), columns=staging.COPY_COLUMNS
        )
    except asyncpg.UniqueViolationError:
        await driver.execute(_ROLLBACK_TO_SAVEPOINT)
        return False
    await driver.execute(_RELEASE_SAVEPOINT)
    return True


async def _merge(driver: asyncpg.Connection, records: list[str], statement: str) -> set[uuid.UUID]:
    """Stage `records` and merge them with `statement`; the ids of creates it skipped."""
    await driver.execute(staging.CREATE_STAGING)
    await driver.copy_to_table(
        staging.STAGING, source=staging.text(records), columns=staging.COPY_COLUMNS
    )
    written = await driver.fetch(statement)
    await driver.execute(staging.CLEAR_STAGING)
    if statement != staging.MERGE_CREATES:
        return set()
    created = {record["id"] for record in written}
    return {key for key in map(staging.record_id, records) if key not in created}


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
