"""SQLite: the embedded default — one file, one writer at a time, everything in process.

Writes go through a single-connection engine whose transactions start with BEGIN
IMMEDIATE: writers queue in the pool (asynchronously) instead of failing with
"database is locked", while readers use WAL connections of their own. Because
writers are already serialised, events need no ordering lock, and the feed is
woken by the in-process commit callback (there are no other processes to hear).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    Insert,
    Select,
    Table,
    bindparam,
    event,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from masterdata.server.config import Settings
from masterdata.server.storage.backend import AnySelect, Backend, EventRecord, Listener
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.commodity import CommodityRow
from masterdata.server.storage.models.events import EventRow

T = TypeVar("T")
_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000")
_COMMODITIES = CommodityRow.__table__
_UPDATE_COMMODITY = update(_COMMODITIES).where(_COMMODITIES.c.id == bindparam("b_id"))
#: Readers of one process; the writer is one connection.
READERS = 4


class SQLiteBackend(Backend):
    """SQLAlchemy Core on aiosqlite; no raw driver calls are needed."""

    concurrent_writers = False
    casts_cells_in_sql = False

    @classmethod
    def connect(cls, url: URL, settings: Settings) -> SQLiteBackend:
        reader = _engine(url, settings, READERS)
        return cls(reader, _engine(url, settings, 1, immediate=True), CoreRowReads(reader))

    @property
    def autocommit_reader(self) -> AsyncEngine:
        return self.reader  # a local transaction is cheap

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def pools(self) -> list[Any]:
        return [self.reader.pool, self.writer.pool]

    async def bound_by_deadline(self, session: AsyncSession, seconds: float) -> None:
        """Nothing to set: statements are local and the writer queue is the pool's."""

    async def append_events(self, session: AsyncSession, rows: Sequence[EventRecord]) -> None:
        # No lock: writers are already serialised (BEGIN IMMEDIATE).
        await session.execute(insert(EventRow), [row._asdict() for row in rows])

    def insert_unless_present(self, table: Table, key: Sequence[str]) -> Insert:
        statement = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(key))
        return statement.returning(table.c[key[0]])

    def any_of(self, column: Any, values: set[Any], item_type: Any) -> ColumnElement[bool]:
        return column.in_(values)  # type: ignore[no-any-return]

    def binary_order(self, column: Any) -> Any:
        return column  # SQLite's default collation is BINARY

    def search_prefilter(self, text: Any, pattern: Any) -> list[ColumnElement[bool]]:
        return []  # no trigram index: the search scans

    async def write_batch(
        self,
        session: AsyncSession,
        creates: Sequence[dict[str, Any]],
        updates: Sequence[dict[str, Any]],
        meanwhile: Callable[[], Awaitable[T]],
        create_shapes: Sequence[Any] = (),
    ) -> tuple[set[uuid.UUID], T]:
        """Core multi-row INSERT and an executemany UPDATE, in the batch's transaction.

        No concurrent writer can beat a create here: the transaction holds the
        only write lock from its first statement.
        """
        async with translate_errors():
            if creates:
                await session.execute(insert(_COMMODITIES), list(creates))
            if updates:
                params = [{**_without_id(row), "b_id": row["id"]} for row in updates]
                await session.execute(_UPDATE_COMMODITY, params)
        return set(), await meanwhile()

    def feed_engine(self) -> AsyncEngine:
        return self.reader

    def listener(self, wake: Callable[[], None], connect_timeout_s: float) -> Listener | None:
        return None  # one process per file: the commit callback wakes the feed


def unicode_lower(value: Any) -> Any:
    """SQL `lower()` as PostgreSQL's and Python's: Unicode, not ASCII only.

    SQLite's built-in lower() folds A-Z alone, so "ÉCRU" and "écru" were two live
    names on SQLite and one on PostgreSQL, and an import (which matches names
    lowercased in Python) missed the stored row and then hit the unique index.
    Registered on every connection; indexes built before it were rebuilt by
    migration 0004.
    """
    if value is None or isinstance(value, bytes):
        return value
    return str(value).lower()


def _without_id(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "id"}


def _engine(url: URL, settings: Settings, size: int, *, immediate: bool = False) -> AsyncEngine:
    engine = create_async_engine(
        url,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=size,
        max_overflow=0,
        pool_timeout=settings.pool_timeout_s,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        dbapi_connection.create_function("lower", 1, unicode_lower, deterministic=True)
        cursor = dbapi_connection.cursor()
        for pragma in _PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class CoreRowReads:
    """Rows by id through SQLAlchemy Core, statements compiled once per table.

    SQLite is local and cheap; PostgreSQL reads rows on asyncpg directly
    (postgres/rows.py) because there the Core path costs ~5x the CPU.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._by_id: dict[str, Select[Any]] = {}
        self._by_ids: dict[str, Select[Any]] = {}

    async def one(self, table: Table, key: Any, seconds_left: float | None) -> Any | None:
        statement = self._by_id.get(table.name)
        if statement is None:
            statement = self._by_id[table.name] = select(table).where(table.c.id == bindparam("id"))
        async with self._engine.connect() as conn:
            return (await conn.execute(statement, {"id": key})).one_or_none()

    async def many(
        self, table: Table, keys: Collection[Any], seconds_left: float | None
    ) -> list[Any]:
        statement = self._by_ids.get(table.name)
        if statement is None:
            statement = self._by_ids[table.name] = select(table).where(
                table.c.id.in_(bindparam("ids", expanding=True))
            )
        async with self._engine.connect() as conn:
            return list(await conn.execute(statement, {"ids": list(keys)}))

    async def deleted_with(
        self,
        key: Any,
        delete_time: datetime,
        children: Sequence[tuple[Table, str]],
        seconds_left: float | None,
    ) -> list[list[Any]]:
        async with self._engine.connect() as conn:
            return [
                list(
                    await conn.execute(
                        select(child).where(
                            child.c[column] == key, child.c.delete_time == delete_time
                        )
                    )
                )
                for child, column in children
            ]

    async def select(
        self, statement: AnySelect, params: Mapping[str, Any], seconds_left: float | None
    ) -> list[Any]:
        async with translate_errors(), self._engine.connect() as conn:
            return list(await conn.execute(statement, params))

    async def close(self) -> None:
        """Nothing to do: the engine is disposed with the backend."""

    def in_use(self) -> int:
        return 0  # its connections are the reader engine's, counted there
