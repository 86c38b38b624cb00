"""Rows by primary key, and List and search pages, on asyncpg directly — the hottest
reads of the service.

Why (profiled with bench/commodity_reads.py and a per-call CPU micro-benchmark):
a cached Core SELECT through SQLAlchemy's AsyncConnection costs ~300 µs of CPU per
Get (pool checkout, Connection and execution context, result processing); the same
statement prepared on an asyncpg pool costs ~55 µs. Get and BatchGet therefore read
through a small asyncpg pool of their own, with the same type conversions
SQLAlchemy's asyncpg dialect applies (JSON documents decoded, timestamps in UTC).
List and SearchCommodities pages read there too, their statements compiled once
(selects.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import asyncpg
from sqlalchemy import (
    JSON,
    Column,
    Date,
    DateTime,
    Float,
    LargeBinary,
    Numeric,
    Table,
    Uuid,
)
from sqlalchemy.engine import URL, Dialect

from masterdata.server.config import Settings
from masterdata.server.storage.backend import AnySelect
from masterdata.server.storage.postgres.selects import CompiledSelects
from masterdata.server.storage.postgres.statement_pool import StatementPool, decode_json


class RecordRow:
    """An asyncpg Record read by attribute, like a SQLAlchemy row; the `json_keys`
    columns are read as text and decoded when read.

    Why: most rows a Get or BatchGet reads have a rendered message already (kept by
    revision, resources/rendered.py), and only their id and revision are read; a
    commodity's sixteen JSON columns decoded for every row were ~10 % of BatchGet's
    CPU (py-spy).
    """

    __slots__ = ("_json", "_record")

    def __init__(self, record: asyncpg.Record, json_keys: frozenset[str] = frozenset()) -> None:
        self._record = record
        self._json = json_keys

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._record[name]
        except KeyError:
            raise AttributeError(name) from None
        if value is not None and name in self._json:
            return json.loads(value)
        return value

    @property
    def _mapping(self) -> dict[str, Any]:
        """Every column by key, as a SQLAlchemy row's: for a caller that reads them all
        (a one-row write), without a failed attribute lookup per column."""
        values = dict(self._record.items())
        for name in self._json:
            if values[name] is not None:
                values[name] = json.loads(values[name])
        return values


class AsyncpgRowReads:
    """Prepared SELECTs by id, and compiled Core SELECTs, on an asyncpg pool of their
    own (PostgreSQL)."""

    def __init__(self, url: URL, settings: Settings, dialect: Dialect) -> None:
        self._compiled = CompiledSelects(dialect)
        self._pool = StatementPool(
            url.set(drivername="postgresql").render_as_string(hide_password=False),
            size=settings.read_pool_size,
            connect_timeout_s=settings.connect_timeout_s,
            pool_timeout_s=settings.pool_timeout_s,
            setup=decode_json,
        )
        self._sql: dict[tuple[str, bool], tuple[str, frozenset[str]]] = {}
        self._children_sql: dict[tuple[tuple[str, str], ...], str] = {}

    async def one(self, table: Table, key: Any, seconds_left: float | None) -> Any | None:
        sql, json_keys = self._statement(table, many=False)
        records = await self._pool.fetch(sql, key, seconds_left=seconds_left)
        return RecordRow(records[0], json_keys) if records else None

    async def many(
        self, table: Table, keys: Collection[Any], seconds_left: float | None
    ) -> list[Any]:
        sql, json_keys = self._statement(table, many=True)
        records = await self._pool.fetch(sql, list(keys), seconds_left=seconds_left)
        return [RecordRow(record, json_keys) for record in records]

    async def select(
        self, statement: AnySelect, params: Mapping[str, Any], seconds_left: float | None
    ) -> list[Any]:
        compiled = self._compiled(statement)
        records = await self._pool.fetch(
            compiled.sql, *compiled.bind(params), seconds_left=seconds_left
        )
        return [compiled.row(record) for record in records]

    async def deleted_with(
        self,
        key: Any,
        delete_time: datetime,
        children: Sequence[tuple[Table, str]],
        seconds_left: float | None,
    ) -> list[list[Any]]:
        """One statement for every child table: each table's rows as one JSON array
        (as text, so that numbers are read as Decimals), typed again by column."""
        sql = self._deleted_with_sql(children)
        records = await self._pool.fetch(sql, key, delete_time, seconds_left=seconds_left)
        return [
            [_typed(child, item) for item in json.loads(found, parse_float=Decimal)]
            for (child, _), found in zip(children, records[0], strict=True)
        ]

    def _deleted_with_sql(self, children: Sequence[tuple[Table, str]]) -> str:
        cache_key = tuple((child.name, column) for child, column in children)
        sql = self._children_sql.get(cache_key)
        if sql is None:
            arrays = ", ".join(
                f"(SELECT coalesce(json_agg(c), '[]')::text FROM \"{child.name}\" c "
                f'WHERE c."{child.c[column].name}" = $1 AND c.delete_time = $2)'
                for child, column in children
            )
            sql = self._children_sql[cache_key] = f"SELECT {arrays}"
        return sql

    async def close(self) -> None:
        await self._pool.close()

    def in_use(self) -> int:
        return self._pool.in_use()

    def _statement(self, table: Table, *, many: bool) -> tuple[str, frozenset[str]]:
        """The SELECT of whole rows by id, and the keys of its columns read as JSON text."""
        statement = self._sql.get((table.name, many))
        if statement is None:
            json_keys = frozenset(c.key for c in table.columns if isinstance(c.type, JSON))
            columns = ", ".join(
                f'"{c.name}"::text AS "{c.key}"' if c.key in json_keys
                else f'"{c.name}"' if c.name == c.key
                else f'"{c.name}" AS "{c.key}"'
                for c in table.columns
            )  # fmt: skip
            where = "id = ANY($1::uuid[])" if many else "id = $1"
            sql = f'SELECT {columns} FROM "{table.name}" WHERE {where}'
            statement = self._sql[(table.name, many)] = (sql, json_keys)
        return statement


def _typed(table: Table, item: dict[str, Any]) -> SimpleNamespace:
    """A row of `table` from its JSON object (row_to_json), with the types asyncpg reads."""
    return SimpleNamespace(
        **{column.key: _from_json(column, item.get(column.name)) for column in table.columns}
    )


def _from_json(column: Column[Any], value: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    if isinstance(kind, JSON):
        return value
    if isinstance(kind, Uuid):
        return uuid.UUID(value)
    if isinstance(kind, DateTime):
        return datetime.fromisoformat(value)
    if isinstance(kind, Date):
        return date.fromisoformat(value)
    if isinstance(kind, Numeric) and not isinstance(kind, Float):
        return Decimal(value) if isinstance(value, int) else value
    if isinstance(kind, LargeBinary):
        return bytes.fromhex(value.removeprefix("\\x"))
    return value
