"""Rows by primary key on asyncpg directly — the hottest reads of the service.

Why (profiled with bench/commodity_reads.py and a per-call CPU micro-benchmark):
a cached Core SELECT through SQLAlchemy's AsyncConnection costs ~300 µs of CPU per
Get (pool checkout, Connection and execution context, result processing); the same
statement prepared on an asyncpg pool costs ~55 µs. Get and BatchGet therefore read
through a small asyncpg pool of their own, with the same type conversions
SQLAlchemy's asyncpg dialect applies (JSON documents decoded, timestamps in UTC).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import asyncpg
from sqlalchemy import Table
from sqlalchemy.engine import URL

from masterdata.server.config import Settings
from masterdata.server.storage.postgres.pool import LazyPool


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
    """Prepared SELECTs by id on an asyncpg pool of their own (PostgreSQL)."""

    def __init__(self, url: URL, settings: Settings) -> None:
        self._pool = LazyPool(
            url,
            size=settings.read_pool_size,
            connect_timeout_s=settings.connect_timeout_s,
            pool_timeout_s=settings.pool_timeout_s,
        )
        self._sql: dict[tuple[str, bool], str] = {}

    async def one(self, table: Table, key: Any, seconds_left: float | None) -> Any | None:
        sql = self._statement(table, many=False)
        records = await self._pool.fetch(sql, key, seconds_left=seconds_left)
        return RecordRow(records[0]) if records else None

    async def many(
        self, table: Table, keys: Collection[Any], seconds_left: float | None
    ) -> list[Any]:
        sql = self._statement(table, many=True)
        records = await self._pool.fetch(sql, list(keys), seconds_left=seconds_left)
        return [RecordRow(record) for record in records]

    async def close(self) -> None:
        await self._pool.close()

    def in_use(self) -> int:
        return self._pool.in_use()

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
