"""PostgreSQL: many writers at once, so order and speed are made here, by the database.

The feed reads events in sequence order and never looks back, so the event append
takes an ordering lock (see _INSERT_AFTER_EVENT_LOCK); Get and BatchGet read on
asyncpg directly (rows.py); an import batch is COPY plus one merge (bulk.py); other
processes' commits arrive by LISTEN/NOTIFY (listener.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Insert, Table, any_, bindparam, collate, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from masterdata.server.config import Settings
from masterdata.server.storage.backend import (
    AnySelect,
    Backend,
    EventRecord,
    Lease,
    Listener,
    RowWrite,
    Written,
)
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.postgres import bulk
from masterdata.server.storage.postgres.lease import AdvisoryLease
from masterdata.server.storage.postgres.listener import PostgresListener
from masterdata.server.storage.postgres.rows import AsyncpgRowReads
from masterdata.server.storage.postgres.selects import CompiledSelects
from masterdata.server.storage.postgres.statement_pool import StatementPool
from masterdata.server.storage.postgres.writes import (
    CHANGED,
    EVENT_COLUMNS,
    OneStatementWrites,
    changed_json,
    event_arrays,
)

T = TypeVar("T")
#: pg_advisory_xact_lock key that serialises event appends (ASCII "mdevents").
EVENT_APPEND_LOCK = 0x6D646576656E7473
#: NOTIFY channel that wakes event-feed readers in every server process.
EVENT_CHANNEL = "masterdata_events"


class PostgresBackend(Backend):
    """SQLAlchemy on asyncpg, with the driver used directly where it measured cheaper."""

    concurrent_writers = True
    casts_cells_in_sql = True

    def __init__(
        self, reader: AsyncEngine, writer: AsyncEngine, rows: AsyncpgRowReads, settings: Settings
    ) -> None:
        super().__init__(reader, writer, rows)
        self._settings = settings
        self._compiled = CompiledSelects(writer.dialect)
        self._writes = OneStatementWrites(
            # Writes share the server's connections with the SQLAlchemy pool (the
            # locking path, imports): only as many as they use are opened. JSON
            # documents go as text (writes.py encodes them).
            StatementPool(
                writer.url.set(drivername="postgresql").render_as_string(hide_password=False),
                size=settings.pool_size,
                connect_timeout_s=settings.connect_timeout_s,
                pool_timeout_s=settings.pool_timeout_s,
            ),
            EVENT_APPEND_LOCK,
            EVENT_CHANNEL,
        )

    @classmethod
    def connect(cls, url: URL, settings: Settings) -> PostgresBackend:
        """One pool for readers and writers; Get and BatchGet have an asyncpg pool of their own."""
        engine = create_async_engine(
            url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_s,
            pool_pre_ping=False,
            connect_args={
                "timeout": settings.connect_timeout_s,
                "command_timeout": 60,
                "server_settings": {"timezone": "UTC"},
            },
        )
        return cls(engine, engine, AsyncpgRowReads(url, settings, engine.dialect), settings)

    @cached_property
    def autocommit_reader(self) -> AsyncEngine:
        return self.reader.execution_options(isolation_level="AUTOCOMMIT")

    async def ping(self) -> None:
        async with self.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))

    def pools(self) -> list[Any]:
        return [self.writer.pool]

    async def dispose(self) -> None:
        await self._writes.close()
        await super().dispose()

    def driver_connections_in_use(self) -> int:
        return super().driver_connections_in_use() + self._writes.in_use()

    async def write_row(self, write: RowWrite) -> Written:
        """One statement on asyncpg directly (writes.py): 1 round trip instead of 7."""
        return await self._writes.write(write)

    async def write_locked(
        self,
        read: AnySelect,
        params: Mapping[str, Any],
        build: Callable[[Any], tuple[RowWrite, T]],
        seconds_left: float | None,
    ) -> T | None:
        """The locking read and the one-statement write in a transaction on asyncpg."""
        return await self._writes.write_locked(self._compiled(read), params, build, seconds_left)

    async def bound_by_deadline(self, session: AsyncSession, seconds: float) -> None:
        milliseconds = str(max(1, int(seconds * 1000)))
        async with translate_errors():
            connection = await session.connection()
            await connection.exec_driver_sql(_BOUND_BY_DEADLINE, (milliseconds,))

    async def append_events(self, session: AsyncSession, rows: Sequence[EventRecord]) -> None:
        """The events in one statement, straight on the transaction's asyncpg connection;
        many of them (an import batch) by COPY after the ordering lock.

        Every write ends with this statement; run through SQLAlchemy it cost ~0.15 ms
        more CPU (measured with bench/document_numbers.py). COPY costs a round trip
        more, but from ~50 events on less CPU: a commit of 1,000 events took ~5 ms
        of the server's instead of ~7.5 ms as arrays, the database's about the same.
        """
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # an open connection has its driver's
        if not driver.is_in_transaction():  # nothing ran yet: SQLAlchemy begins lazily
            await connection.exec_driver_sql("SELECT 1")
        if len(rows) >= _COPY_EVENTS_FROM:
            await driver.execute(_EVENT_LOCK, EVENT_APPEND_LOCK, EVENT_CHANNEL)
            await driver.copy_records_to_table(
                "events", records=_event_records(rows), columns=_COPY_EVENT_COLUMNS
            )
            return
        await driver.execute(
            _INSERT_AFTER_EVENT_LOCK, EVENT_APPEND_LOCK, EVENT_CHANNEL, *event_arrays(rows)
        )

    def insert_unless_present(self, table: Table, key: Sequence[str]) -> Insert:
        statement = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(key))
        return statement.returning(table.c[key[0]])

    def any_of(self, column: Any, values: set[Any], item_type: Any) -> ColumnElement[bool]:
        """One array parameter (`= ANY`): an IN list of a thousand parameters costs
        more to render than the query."""
        array = bindparam(None, list(values), type_=postgresql.ARRAY(item_type))
        return column == any_(array)  # type: ignore[no-any-return]

    def binary_order(self, column: Any) -> Any:
        return collate(column, "C")

    def search_prefilter(self, text: Any, pattern: Any) -> list[ColumnElement[bool]]:
        """The trigram index of migration 0002 narrows `text LIKE '%...%'` (14 ms -> 2.6 ms
        a search on 10,000 commodities)."""
        return [text.like(pattern, escape="\\")]

    async def write_batch(
        self,
        session: AsyncSession,
        creates: Sequence[dict[str, Any]],
        updates: Sequence[dict[str, Any]],
        meanwhile: Callable[[], Awaitable[T]],
        create_shapes: Sequence[Any] = (),
    ) -> tuple[set[uuid.UUID], T]:
        return await bulk.write_batch(session, creates, updates, meanwhile, create_shapes)

    def feed_engine(self) -> AsyncEngine:
        """One connection of its own for the feed's reads.

        Writers and readers share one pool here, and the pool does not hand
        connections out fairly: under a write burst that occupies every connection,
        the feed could wait for one long enough to stall every subscriber.
        """
        settings = self._settings
        return create_async_engine(
            self.reader.url,
            pool_size=1,
            max_overflow=0,
            pool_timeout=settings.pool_timeout_s,
            connect_args={"timeout": settings.connect_timeout_s, "command_timeout": 60},
        )

    def listener(self, wake: Callable[[], None], connect_timeout_s: float) -> Listener | None:
        dsn = self.reader.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresListener(dsn, EVENT_CHANNEL, wake, connect_timeout_s=connect_timeout_s)

    def lease(self, name: str, connect_timeout_s: float) -> Lease | None:
        dsn = self.reader.url.set(drivername="postgresql").render_as_string(hide_password=False)
        return AdvisoryLease(dsn, name, connect_timeout_s)


#: Transaction-local timeouts (set_config(..., true) is SET LOCAL), as driver SQL: the
#: first statement of every PostgreSQL write, it skips SQLAlchemy's statement compilation.
_BOUND_BY_DEADLINE = (
    "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $1, true)"
)

#: The append of a unit of work's events: one statement, prepared once per connection.
#:
#: Why the lock: PostgreSQL hands out sequence values when rows are inserted, not
#: when transactions commit, so two writers can commit out of sequence order. A feed
#: reader that has seen sequence 11 (committed first) would then never look back for
#: 10 (committed later). A transaction-scoped advisory lock taken right before the
#: events are inserted, and held until commit, makes "insert events, commit" a
#: critical section: sequence order is commit order. It is taken last, after all
#: other work of the transaction, so it is held only for this statement and the
#: commit; the NOTIFY that wakes feed readers is delivered at commit.
#:
#: The lock lives in a MATERIALIZED CTE joined to the new rows: no row — and so no
#: sequence value, drawn as each row is inserted — exists before the CTE has been
#: scanned, that is, before the lock is held. The rows arrive as arrays (unnest), so
#: any number of events is one prepared statement with a fixed set of parameters, and
#: one round trip instead of two shortens the time every writer holds its row locks.
_INSERT_AFTER_EVENT_LOCK = """
WITH event_append_lock AS MATERIALIZED (
    SELECT pg_advisory_xact_lock($1::bigint), pg_notify($2::text, '')
)
INSERT INTO events (
    event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
    resource_type, resource, changed_fields, actor, request_id, occur_time
)
SELECT e.event_id, e.aggregate_type, e.aggregate_id, e.aggregate_version, e.event_type,
       e.resource_type, e.resource, e.changed_fields::jsonb, e.actor, e.request_id,
       $13::timestamptz
FROM unnest(
    $3::uuid[], $4::text[], $5::uuid[], $6::bigint[], $7::text[], $8::text[],
    $9::bytea[], $10::text[], $11::text[], $12::text[]
) AS e(event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
       resource_type, resource, changed_fields, actor, request_id)
CROSS JOIN event_append_lock
"""

#: Many events (from _COPY_EVENTS_FROM on): the same lock and NOTIFY as a statement
#: of their own, then COPY. Each sequence value is drawn as COPY inserts its row, so
#: after the lock is held: the critical section is the same, a round trip longer.
_COPY_EVENTS_FROM = 100
_EVENT_LOCK = "SELECT pg_advisory_xact_lock($1::bigint), pg_notify($2::text, '')"
_COPY_EVENT_COLUMNS = (*EVENT_COLUMNS, "occur_time")


def _event_records(rows: Sequence[EventRecord]) -> list[tuple[Any, ...]]:
    """Event rows as COPY tuples: `changed_fields` as JSON text, as jsonb takes it."""
    return [
        (
            *row[:CHANGED],
            changed_json(row.changed_fields),
            *row[CHANGED + 1 :],
        )
        for row in rows
    ]
