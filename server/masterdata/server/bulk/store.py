"""The database side of a batch: one lookup of stored rows, then set-based writes.

Why COPY + merge on PostgreSQL (scratch runs on the shared 2-CPU host, 30,000
commodity rows in batches of 500-1,000; bench/bulk_import.py has the in-run
baselines): SQLAlchemy Core `insert(table)` with a list of rows (insertmanyvalues)
wrote ~12,000 rows/s, ~90 % of it client-side Python, above all the bind
processing of the 16 JSON columns of every row. asyncpg's binary COPY of the
same rows wrote ~23,000 rows/s with the JSON encoded in the loop (~150,000 with
it encoded beforehand), and COPY into a temporary staging table followed by one
`INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING id` cost about the same
(20,000-26,000 rows/s). The merge is kept for what it buys: a commodity created
by a concurrent caller between this batch's lookup and its write becomes that
row's DUPLICATE_NAME instead of failing the batch. Updates merge from the same
staging rows with one `UPDATE ... FROM`. The events of a batch stay with the
unit of work (`uow.record`): its one multi-row insert at commit is taken under
the event-append lock (see db/unit_of_work.py), and measured ~50,000 rows/s
against ~63,000 for COPY of the same event rows - not worth a second way of
appending events.

SQLite has no COPY and one writer at a time: Core multi-row INSERT and an
executemany UPDATE, in the batch's transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from operator import itemgetter
from typing import Any

import asyncpg
from sqlalchemy import JSON, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.bulk.candidates import Candidate
from masterdata.server.bulk.planning import Plan, Stored
from masterdata.server.db.errors import translate_errors
from masterdata.server.db.models.commodity import CommodityRow
from masterdata.server.domain.errors import Aborted, DeadlineExceeded, MasterdataError, Unavailable

TABLE = CommodityRow.__table__
COLUMNS: tuple[str, ...] = tuple(c.key for c in TABLE.columns)
_JSON = tuple(c.key for c in TABLE.columns if isinstance(c.type, JSON))
_PLAIN = tuple(c for c in COLUMNS if c not in _JSON)
#: COPY column order: plain columns, then JSON ones (taken from a row in C, by itemgetter).
_COPY_COLUMNS = _PLAIN + _JSON
_take_plain, _take_json = itemgetter(*_PLAIN), itemgetter(*_JSON)
_STAGING = "commodity_import_staging"
_COLUMN_LIST = ", ".join(COLUMNS)
_CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (LIKE commodities) ON COMMIT DELETE ROWS"
)
# A staged create has revision 1; a staged update the stored revision + 1 (>= 2).
_MERGE_CREATES = (
    f"INSERT INTO commodities ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_STAGING} "
    "WHERE revision = 1 ON CONFLICT DO NOTHING RETURNING id"
)
_SET = [c for c in COLUMNS if c != "id"]
_MERGE_UPDATES = (
    f"UPDATE commodities AS c SET ({', '.join(_SET)}) = ({', '.join('s.' + c for c in _SET)}) "
    f"FROM {_STAGING} AS s WHERE s.revision > 1 AND c.id = s.id"
)
_CLEAR_STAGING = f"TRUNCATE {_STAGING}"
_TIMEOUT_STATES = {"57014", "55P03"}
_RETRY_STATES = {"40001", "40P01", "23505"}


async def find_stored(
    session: AsyncSession, candidates: Sequence[Candidate], *, upsert: bool, lock: bool
) -> Stored:
    """The one query of a batch: rows named by id (UPSERT) or by live (lower(name), category).

    Matching lower(name) alone uses the live-uniqueness index; rows of another
    category come back too and are told apart in memory. With `lock`, rows are
    locked in id order, so concurrent imports of overlapping rows queue instead
    of deadlocking, and no one changes a matched row before this batch commits.
    """
    ids = {c.id for c in candidates if c.id is not None} if upsert else set()
    names = {c.key[0] for c in candidates}
    if not ids and not names:
        return Stored({}, {})
    condition = func.lower(TABLE.c.name).in_(names) & TABLE.c.delete_time.is_(None)
    if ids:
        condition = or_(TABLE.c.id.in_(ids), condition)
    stmt = select(TABLE).where(condition).order_by(TABLE.c.id)
    if lock:
        stmt = stmt.with_for_update()
    async with translate_errors():
        result = await session.execute(stmt)
        return Stored.of(dict(row._mapping) for row in result)


async def write(session: AsyncSession, plan: Plan, *, postgres: bool) -> set[uuid.UUID]:
    """Write a plan's creates and updates; the ids of creates a concurrent write beat."""
    if not plan.creates and not plan.updates:
        return set()
    if postgres:
        return await _write_postgres(session, plan)
    async with translate_errors():
        if plan.creates:
            await session.execute(insert(TABLE), plan.creates)
        if plan.updates:
            stmt = update(TABLE).where(TABLE.c.id == bindparam("b_id"))
            params = [_without_id(row) for row, _ in plan.updates]
            await session.execute(stmt, params)
    return set()


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    params = {k: v for k, v in row.items() if k != "id"}
    params["b_id"] = row["id"]
    return params


async def _write_postgres(session: AsyncSession, plan: Plan) -> set[uuid.UUID]:
    connection = await (await session.connection()).get_raw_connection()
    driver: asyncpg.Connection = connection.driver_connection  # type: ignore[assignment]
    assert driver.is_in_transaction(), "a batch writes inside its unit of work"
    rows = [*plan.creates, *(row for row, _ in plan.updates)]
    async with _driver_errors():
        await driver.execute(_CREATE_STAGING)
        records = _records(rows)
        await driver.copy_records_to_table(_STAGING, records=records, columns=_COPY_COLUMNS)
        inserted = await driver.fetch(_MERGE_CREATES) if plan.creates else []
        if plan.updates:
            await driver.execute(_MERGE_UPDATES)
        await driver.execute(_CLEAR_STAGING)
    created = {record["id"] for record in inserted}
    return {row["id"] for row in plan.creates if row["id"] not in created}


def _records(rows: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Rows as COPY tuples; JSON columns as text, the way the jsonb codec takes them."""
    encode = _JsonText()
    return [_take_plain(row) + tuple(map(encode, _take_json(row))) for row in rows]


class _JsonText:
    """json.dumps with memory: rows of one batch repeat the same lists and documents."""

    def __init__(self) -> None:
        self._lists: dict[tuple[Any, ...], str] = {}
        self._documents: dict[int, tuple[Any, str]] = {}

    def __call__(self, value: Any) -> str:
        if value is None:
            return "null"  # what SQLAlchemy's JSON type stores for None
        if isinstance(value, list):
            key = tuple(value)
            text = self._lists.get(key)
            if text is None:
                text = self._lists[key] = json.dumps(value)
            return text
        hit = self._documents.get(id(value))
        if hit is None or hit[0] is not value:
            hit = self._documents[id(value)] = (value, json.dumps(value))
        return hit[1]


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
