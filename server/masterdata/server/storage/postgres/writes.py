"""A write as one statement: the row, the stored reply and the events, in one round trip.

Why (counted with tests/test_round_trips.py, measured with bench/cpu_per_call.py):
through a session, a CreateCommodity with a request_id took seven round trips —
BEGIN, the deadline's set_config, the idempotency claim, the INSERT, the reply,
the events, COMMIT — each a statement SQLAlchemy compiles and asyncpg sends. Here
the same work is one prepared statement of data-modifying CTEs that PostgreSQL runs
in one implicit transaction; the deadline is asyncpg's timeout, which cancels the
statement (lock waits included) without a statement of its own.

The statement's parts, in the order their data dependencies force:

0. `guard`, for a delete of a parent (`RowWrite.unless_live_children`): the function
   of migration 0005 locks the row, then counts the live children with a snapshot
   taken after the lock — the statement's own snapshot, taken before any lock wait,
   could miss a child whose transaction held the parent's lock meanwhile;
1. `written`: the INSERT, or the UPDATE where id and revision are what the caller
   read (optimistic: a concurrent write bumped the revision, so nothing is written
   and nothing else happens), and, with a guard, no child is live;
2. `claimed`: the idempotency keys with their replies (as arrays: none, one, or one
   per call of a batch), if the row was written — a key already stored (or held by
   a twin still running, which the insert waits for) fails the whole statement with
   a unique violation, so nothing is written twice;
3. `event_append_lock`: the ordering lock of the events (see __init__.py), taken
   after all of the above, so it is held only to the commit;
4. `appended`: the events.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import JSON, Table

from masterdata.server.storage.backend import EventRecord, RowWrite, Written
from masterdata.server.storage.models.events import IdempotencyKeyRow
from masterdata.server.storage.postgres.selects import CompiledSelect
from masterdata.server.storage.postgres.statement_pool import Deadline, StatementPool

T = TypeVar("T")

#: The event columns the statement takes as arrays, in its order (as in __init__.py):
#: an EventRecord's but the occur_time they share.
EVENT_COLUMNS = EventRecord._fields[:-1]
_KEY_COLUMNS = ("request_id", "identity", "method", "fingerprint", "response", "create_time")
_KEY_TYPES = ("text", "text", "text", "bytea", "bytea", "timestamptz")
#: The JSON columns among a statement's parameters: (position, key).
_Documents = tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class _Shape:
    """What a statement's text depends on (its cache key)."""

    table: Table
    #: The row's columns written, by key.
    names: tuple[str, ...]
    inserting: bool
    guarded: bool
    #: Each cascade's table and the columns it sets, by key.
    cascades: tuple[tuple[Table, tuple[str, ...]], ...]


class OneStatementWrites:
    """`RowWrite`s sent as one statement each, on an asyncpg pool of their own."""

    def __init__(self, pool: StatementPool, event_lock: int, channel: str) -> None:
        self._pool = pool
        self._event_lock = event_lock
        self._channel = channel

    async def write(self, write: RowWrite) -> Written:
        sql, arguments = _statement(write, self._event_lock, self._channel)
        records = await self._pool.fetch(sql, *arguments, seconds_left=write.seconds_left)
        applied, live = records[0]
        return Written(bool(applied), tuple(live or ()))

    async def write_locked(
        self,
        read: CompiledSelect,
        params: Mapping[str, Any],
        build: Callable[[Any], tuple[RowWrite, T]],
        seconds_left: float | None,
    ) -> T | None:
        """`Backend.write_locked`: the locking read, then the write it builds, in a
        transaction of three round trips more than `write` (BEGIN, the read, COMMIT)."""

        async def work(connection: asyncpg.Connection, deadline: Deadline) -> T | None:
            records = await connection.fetch(read.sql, *read.bind(params), timeout=deadline.left())
            if not records:
                return None
            write, result = build(read.decoded_row(records[0]))
            sql, arguments = _statement(write, self._event_lock, self._channel)
            applied, _ = (await connection.fetch(sql, *arguments, timeout=deadline.left()))[0]
            if not applied:  # the lock held the row as read: a bug, never a race
                raise RuntimeError(f"a write after its row's lock did not apply: {write.row_id}")
            return result

        return await self._pool.transaction(work, seconds_left)

    async def close(self) -> None:
        await self._pool.close()

    def in_use(self) -> int:
        return self._pool.in_use()


def _statement(write: RowWrite, event_lock: int, channel: str) -> tuple[str, list[Any]]:
    """The SQL text of `write`'s shape and its arguments."""
    table = write.table
    inserting = write.expected_revision is None
    names = _keys(table) if inserting else tuple(write.values)
    children = [
        f"{child.name}.{child.c[column].name}" for child, column in write.unless_live_children
    ]
    shape = _Shape(
        table,
        names,
        inserting,
        bool(children),
        tuple((c.table, tuple(c.values)) for c in write.cascade),
    )
    sql, documents = _render(shape)
    arguments = _encoded(write.values, names, documents[0])
    if not inserting:
        arguments += [write.row_id, write.expected_revision]
    if children:
        arguments += [table.name, children]
    for cascade, (_, keys), cascade_documents in zip(
        write.cascade, shape.cascades, documents[1:], strict=True
    ):
        arguments += _encoded(cascade.values, keys, cascade_documents)
        arguments.append(list(cascade.ids))
    arguments += [[claim[name] for claim in write.claims] for name in _KEY_COLUMNS]
    arguments += [event_lock, channel]
    arguments += event_arrays(write.events)
    return sql, arguments


@functools.cache
def _keys(table: Table) -> tuple[str, ...]:
    """The keys of `table`'s columns: an insert's (every column)."""
    return tuple(c.key for c in table.columns)


@functools.lru_cache(maxsize=1024)
def _render(shape: _Shape) -> tuple[str, tuple[_Documents, ...]]:
    """The statement's text, parameters in the order `_statement` passes
    them; and the JSON columns among the row's and each cascade's.

    Remembered per shape, boundedly: an update's shape is its set of changed columns,
    which callers choose.
    """
    return _text(shape), (
        _documents(shape.table, shape.names),
        *(_documents(rows, names) for rows, names in shape.cascades),
    )


def _documents(table: Table, keys: Sequence[str]) -> _Documents:
    return tuple((i, key) for i, key in enumerate(keys) if isinstance(table.c[key].type, JSON))


def _text(shape: _Shape) -> str:
    counter = iter(range(1, 10_000))

    def param() -> str:
        return f"${next(counter)}"

    table = shape.table
    columns = [table.c[key].name for key in shape.names]
    parts = []
    if shape.inserting:
        quoted = ", ".join(f'"{name}"' for name in columns)
        values = ", ".join(param() for _ in columns)
        written = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({values}) RETURNING 1'
    else:
        assignments = ", ".join(f'"{name}" = {param()}' for name in columns)
        row_id, revision = param(), param()
        condition = f"id = {row_id} AND revision = {revision}"
        if shape.guarded:
            parent, children = param(), param()
            parts.append(
                "guard AS MATERIALIZED (SELECT masterdata_live_children("
                f"{parent}::regclass, {row_id}::uuid, {children}::text[]) AS live)"
            )
            condition += (
                " AND (SELECT coalesce(sum(n), 0) FROM unnest((SELECT live FROM guard)) AS n) = 0"
            )
        written = f'UPDATE "{table.name}" SET {assignments} WHERE {condition} RETURNING 1'
    parts.append(f"written AS ({written})")
    after_cascades = []
    for i, (rows, names) in enumerate(shape.cascades):
        sets = ", ".join(f'"{rows.c[key].name}" = {param()}' for key in names)
        ids = param()
        parts.append(
            f'cascaded_{i} AS (UPDATE "{rows.name}" SET {sets}, revision = revision + 1 '
            f"WHERE id = ANY({ids}::uuid[]) AND EXISTS (SELECT 1 FROM written) RETURNING 1)"
        )
        after_cascades.append(f"(SELECT count(*) FROM cascaded_{i}) >= 0")
    keys = ", ".join(f"{param()}::{kind}[]" for kind in _KEY_TYPES)
    parts.append(
        f"claimed AS (INSERT INTO {IdempotencyKeyRow.__tablename__} "
        f"({', '.join(_KEY_COLUMNS)}) SELECT k.* FROM unnest({keys}) "
        f"AS k({', '.join(_KEY_COLUMNS)}) CROSS JOIN written RETURNING 1)"
    )
    # Whatever must come before the event lock: a scalar subquery of the lock's WHERE
    # runs before its first row, so no row or key is waited for while the lock is held.
    before = " AND ".join(["(SELECT count(*) FROM claimed) >= 0", *after_cascades])
    lock, channel = param(), param()
    parts.append(
        "event_append_lock AS MATERIALIZED ("
        f"SELECT pg_advisory_xact_lock({lock}::bigint), pg_notify({channel}::text, '') "
        f"FROM written WHERE {before})"
    )
    arrays = [param() for _ in EVENT_COLUMNS]
    occur_time = param()
    parts.append(
        "appended AS (INSERT INTO events (event_id, aggregate_type, aggregate_id, "
        "aggregate_version, event_type, resource_type, resource, changed_fields, actor, "
        "request_id, occur_time) "
        "SELECT e.event_id, e.aggregate_type, e.aggregate_id, e.aggregate_version, "
        "e.event_type, e.resource_type, e.resource, e.changed_fields::jsonb, e.actor, "
        f"e.request_id, {occur_time}::timestamptz "
        f"FROM unnest({arrays[0]}::uuid[], {arrays[1]}::text[], {arrays[2]}::uuid[], "
        f"{arrays[3]}::bigint[], {arrays[4]}::text[], {arrays[5]}::text[], "
        f"{arrays[6]}::bytea[], {arrays[7]}::text[], {arrays[8]}::text[], "
        f"{arrays[9]}::text[]) AS e(event_id, aggregate_type, aggregate_id, "
        "aggregate_version, event_type, resource_type, resource, changed_fields, actor, "
        "request_id) CROSS JOIN event_append_lock RETURNING 1)"
    )
    live = "(SELECT live FROM guard)" if shape.guarded else "NULL::bigint[]"
    return f"WITH {', '.join(parts)} SELECT (SELECT count(*) FROM written), {live}"


def _encoded(values: Mapping[str, Any], keys: Sequence[str], documents: _Documents) -> list[Any]:
    """The parameters of `keys`' columns: JSON documents as their text (None is JSON
    null, as SQLAlchemy writes it), an absent column as SQL NULL."""
    encoded = [values.get(key) for key in keys]
    for i, key in documents:
        if key in values:
            encoded[i] = _json_text(values[key])
    return encoded


_EMPTY: dict[type, str] = {list: "[]", dict: "{}"}


def _json_text(value: Any) -> str:
    """json.dumps(value); most of a row's documents are null or empty, whose text is
    known without the ~2 µs json.dumps takes even for them."""
    if value is None:
        return "null"
    if not value and type(value) in _EMPTY:
        return _EMPTY[type(value)]
    return json.dumps(value)


def event_arrays(events: Sequence[EventRecord]) -> list[Any]:
    """The parameters of an append of `events` as arrays: each column of EVENT_COLUMNS
    (`changed_fields` as JSON text), then the occur_time they share."""
    if not events:
        return [[] for _ in EVENT_COLUMNS] + [None]
    columns: list[Any] = [list(column) for column in zip(*events, strict=True)]
    columns[CHANGED] = [changed_json(fields) for fields in columns[CHANGED]]
    return [*columns[: len(EVENT_COLUMNS)], events[0].occur_time]


def changed_json(fields: Sequence[str]) -> str:
    """An event's changed_fields as the JSON text its jsonb column takes."""
    return json.dumps(list(fields)) if fields else "[]"


#: Where changed_fields is among an EventRecord's columns.
CHANGED = EVENT_COLUMNS.index("changed_fields")
