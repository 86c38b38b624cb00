"""The database side of a batch: one lookup of stored rows, then set-based writes.

Why COPY + merge on PostgreSQL (scratch runs on the shared 2-CPU host, 30,000
commodity rows in batches of 500-1,000; bench/bulk_import.py has the in-run
baselines): SQLAlchemy Core `insert(table)` with a list of rows (insertmanyvalues)
wrote ~12,000 rows/s, ~90 % of it client-side Python, above all the bind
processing of the 16 JSON columns of every row. asyncpg's binary COPY into a
temporary staging table (see staging.py for its shape), followed by one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING id`, costs a fraction
of that in Python. The merge is kept for what it buys: a commodity created by a
concurrent caller between this batch's lookup and its write becomes that row's
DUPLICATE_NAME instead of failing the batch; COPY straight into commodities
measured no faster (35 ms against 12 + 19 ms for 1,000 rows). Updates merge
from the same staging rows with one `UPDATE ... FROM`. The events of a batch
stay with the unit of work (`uow.record`): its one multi-row insert at commit
is taken under the event-append lock (see storage/unit_of_work.py).

SQLite has no COPY and one writer at a time: Core multi-row INSERT and an
executemany UPDATE, in the batch's transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import ColumnElement, Text, any_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.bulk import staging
from masterdata.server.bulk.candidates import Candidate
from masterdata.server.bulk.cooperative import sliced
from masterdata.server.bulk.planning import Plan, Stored
from masterdata.server.bulk.staging import TABLE
from masterdata.server.domain.errors import Aborted, DeadlineExceeded, MasterdataError, Unavailable
from masterdata.server.storage.errors import translate_errors

T = TypeVar("T")
R = TypeVar("R")
_TIMEOUT_STATES = {"57014", "55P03"}
_RETRY_STATES = {"40001", "40P01", "23505"}


async def find_stored(
    session: AsyncSession,
    candidates: Sequence[Candidate],
    *,
    upsert: bool,
    lock: bool,
    postgres: bool,
) -> Stored:
    """The one query of a batch: rows named by id (UPSERT) or by live (lower(name), category).

    Matching lower(name) alone uses the live-uniqueness index; rows of another
    category come back too and are told apart in memory. With `lock`, rows are
    locked in id order, so concurrent imports of overlapping rows queue instead
    of deadlocking, and no one changes a matched row before this batch commits.
    On PostgreSQL the names and ids travel as two array parameters (`= ANY`):
    an IN list of a thousand parameters costs more to render than the query.
    """
    ids = {c.id for c in candidates if c.id is not None} if upsert else set()
    names = {c.key[0] for c in candidates}
    if not ids and not names:
        return Stored({}, {})
    live = TABLE.c.delete_time.is_(None)
    condition = _among(func.lower(TABLE.c.name), names, Text(), postgres) & live
    if ids:
        condition = or_(_among(TABLE.c.id, ids, TABLE.c.id.type, postgres), condition)
    stmt = select(TABLE).where(condition).order_by(TABLE.c.id)
    if lock:
        stmt = stmt.with_for_update()
    async with translate_errors():
        result = await session.execute(stmt)
        return Stored.of(dict(row._mapping) for row in result)


def _among(column: Any, values: set[Any], item_type: Any, postgres: bool) -> ColumnElement[bool]:
    if not postgres:
        return column.in_(values)  # type: ignore[no-any-return]
    array = bindparam(None, list(values), type_=ARRAY(item_type))
    return column == any_(array)  # type: ignore[no-any-return]


async def write(
    session: AsyncSession, plan: Plan, *, postgres: bool, meanwhile: Callable[[], Awaitable[T]]
) -> tuple[set[uuid.UUID], T]:
    """Write a plan's creates and updates, and call `meanwhile` while the database works.

    Returns the ids of creates a concurrent write beat, and what `meanwhile` returned.
    """
    if not plan.creates and not plan.updates:
        return set(), await meanwhile()
    if postgres:
        return await _write_postgres(session, plan, meanwhile)
    async with translate_errors():
        if plan.creates:
            await session.execute(insert(TABLE), plan.creates)
        if plan.updates:
            stmt = update(TABLE).where(TABLE.c.id == bindparam("b_id"))
            params = [_without_id(row) for row, _ in plan.updates]
            await session.execute(stmt, params)
    return set(), await meanwhile()


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in row.items() if k != "id"}
    params["b_id"] = row["id"]
    return params


async def _write_postgres(
    session: AsyncSession, plan: Plan, meanwhile: Callable[[], Awaitable[T]]
) -> tuple[set[uuid.UUID], T]:
    connection = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection = connection.driver_connection  # type: ignore[assignment]
    assert driver.is_in_transaction(), "a batch writes inside its unit of work"
    rows = [*plan.creates, *(row for row, _ in plan.updates)]
    async with _driver_errors():
        await driver.execute(staging.CREATE_STAGING)
        records = await sliced(rows, staging.records)
        await driver.copy_records_to_table(
            staging.STAGING, records=records, columns=staging.COPY_COLUMNS
        )
        return await _overlapped(_merge(driver, plan), meanwhile)


async def _merge(driver: asyncpg.Connection, plan: Plan) -> set[uuid.UUID]:
    inserted = await driver.fetch(staging.MERGE_CREATES) if plan.creates else []
    if plan.updates:
        await driver.execute(staging.MERGE_UPDATES)
    await driver.execute(staging.CLEAR_STAGING)
    created = {record["id"] for record in inserted}
    return {row["id"] for row in plan.creates if row["id"] not in created}


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
    """asyncpg's own errors (used directly for COPY) in the domain error tree."""
    try:
        yield
    except asyncpg.PostgresError as error:
        domain = _translate(error)
        if domain is None:
            raise
        raise domain from error
    except (OSError, asyncpg.InterfaceError) as error:
        raise Unavailable("the database is unavailable; retry later") from error


def _translate(error: asyncpg.PostgresError) -> MasterdataError | None:
    state = getattr(error, "sqlstate", "") or ""
    if state in _TIMEOUT_STATES:
        return DeadlineExceeded("the deadline passed before the database finished")
    if state in _RETRY_STATES:
        return Aborted("a concurrent write conflicted with the import; retry", reason="CONFLICT")
    if state.startswith("08") or state.startswith("57P"):
        return Unavailable("the database is unavailable; retry later")
    return None
