"""Rows by primary key on asyncpg directly — the hottest reads of the service.

Why (profiled with bench/commodity_reads.py and a per-call CPU micro-benchmark):
a cached Core SELECT through SQLAlchemy's AsyncConnection costs ~300 µs of CPU per
Get (pool checkout, Connection and execution context, result processing); the same
statement prepared on an asyncpg pool costs ~55 µs. Get and BatchGet therefore read
through a small asyncpg pool of their own, with the same type conversions
SQLAlchemy's asyncpg dialect applies (JSON documents decoded, timestamps in UTC).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Collection
from typing import Any

import asyncpg
from sqlalchemy import Table
from sqlalchemy.engine import URL

from masterdata.server.config import Settings
from masterdata.server.domain.errors import DeadlineExceeded
from masterdata.server.storage.errors import pool_timeout


class RecordRow:
    """An asyncpg Record read by attribute, like a SQLAlchemy row."""

    __slots__ = ("_record",)

    def __init__(self, record: asyncpg.Record) -> None:
        self._record = record

    def __getattr__(self, name: str) -> Any:
        try:
            return self._record[name]
        except KeyError:
            raise AttributeError(name) from None


class AsyncpgRowReads:
    """Prepared SELECTs on a lazily opened asyncpg pool (PostgreSQL)."""

    def __init__(self, url: URL, settings: Settings) -> None:
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._settings = settings
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self._sql: dict[tuple[str, bool], str] = {}

    async def one(self, table: Table, key: Any, seconds_left: float | None) -> Any | None:
        records = await self._fetch(self._statement(table, many=False), key, seconds_left)
        return RecordRow(records[0]) if records else None

    async def many(
        self, table: Table, keys: Collection[Any], seconds_left: float | None
    ) -> list[Any]:
        records = await self._fetch(self._statement(table, many=True), list(keys), seconds_left)
        return [RecordRow(record) for record in records]

    async def _fetch(self, sql: str, argument: Any, seconds_left: float | None) -> list[Any]:
        pool = self._pool or await self._open()
        # A free or not yet opened slot is taken at once; only a full pool needs the
        # timeout, whose timer would cost every other call a task switch.
        free = pool.get_idle_size() or pool.get_size() < pool.get_max_size()
        try:
            conn = await pool.acquire(timeout=None if free else self._settings.pool_timeout_s)
        except TimeoutError:
            raise pool_timeout() from None
        try:
            return await conn.fetch(sql, argument, timeout=seconds_left)
        except TimeoutError:
            raise DeadlineExceeded("the deadline passed before the database answered") from None
        finally:
            await pool.release(conn)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def in_use(self) -> int:
        pool = self._pool
        return 0 if pool is None else pool.get_size() - pool.get_idle_size()

    def _statement(self, table: Table, *, many: bool) -> str:
        sql = self._sql.get((table.name, many))
        if sql is None:
            columns = ", ".join(
                f'"{c.name}"' if c.name == c.key else f'"{c.name}" AS "{c.key}"'
                for c in table.columns
            )
            where = "id = ANY($1::uuid[])" if many else "id = $1"
            sql = self._sql[(table.name, many)] = (
                f'SELECT {columns} FROM "{table.name}" WHERE {where}'
            )
        return sql

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                settings = self._settings
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    # Opened whole at the first read (in parallel), so no later call
                    # waits for a connection to be set up.
                    min_size=settings.read_pool_size,
                    max_size=settings.read_pool_size,
                    timeout=settings.connect_timeout_s,
                    command_timeout=60,
                    server_settings={"timezone": "UTC"},
                    init=_decode_json,
                    reset=_keep_session,
                )
        return self._pool


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """No reset query on release: these connections only run SELECTs by id, which
    leave no session state behind, and asyncpg's default reset is a round trip."""


async def _decode_json(conn: asyncpg.Connection) -> None:
    """JSON documents as Python values, as SQLAlchemy's asyncpg dialect returns them."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
