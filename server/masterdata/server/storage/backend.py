"""What the layers above need from a database, in their words; one implementation per backend.

`sqlite.py` and `postgres/` implement it. Every dialect branch, every raw driver
call and every SQL text of the server lives behind this interface (a test scans
the other packages for drivers, SQL text and backend questions): the rest of the
code writes SQLAlchemy expressions and asks the backend for what differs —
how a write is bounded by its caller's deadline, how its events are appended in
commit order, how a bulk batch is written, how the feed hears of new events.
docs/ARCHITECTURE.md ("Two backends") has the measurements behind each choice.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Insert, Select, Table, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.events import IdempotencyKeyRow

T = TypeVar("T")
#: A Core SELECT of any columns.
AnySelect: TypeAlias = "Select[*tuple[Any, ...]]"


class EventRecord(NamedTuple):
    """A row of the events table as it is appended: its columns in the order the
    backends send them (`Backend.append_events`, a one-row write's events)."""

    event_id: uuid.UUID
    aggregate_type: str
    aggregate_id: uuid.UUID
    aggregate_version: int
    event_type: str
    resource_type: str
    resource: bytes
    changed_fields: Sequence[str]
    actor: str
    request_id: str
    occur_time: datetime


@dataclass(frozen=True)
class RowWrite:
    """One row inserted or updated, its events and the call's stored reply: all or nothing.

    Everything is known before it is sent — ids, times, the rendered resource and
    reply — so a backend can send it as one statement (docs/ARCHITECTURE.md, "The
    write path").
    """

    table: Table
    row_id: uuid.UUID
    #: An insert's columns (by key; any other column is NULL), or an update's changes.
    values: Mapping[str, Any]
    #: None for an insert; else the update applies only while the row still has this
    #: revision (every write bumps it), and nothing is written otherwise.
    expected_revision: int | None
    #: Rows of the events table, as `Backend.append_events` takes them.
    events: Sequence[EventRecord]
    #: The idempotency_keys rows with their replies (one per call the write serves),
    #: inserted with the write. A stored key makes the whole write fail with a unique
    #: violation.
    claims: Sequence[Mapping[str, Any]]
    #: The caller's remaining deadline, bounding the database work.
    seconds_left: float | None
    #: Child tables and their column naming this row: the update applies only while
    #: none of them has a live row of it (a delete of a parent). Children are made live
    #: only by transactions that lock the parent row first; the count sees all of them.
    unless_live_children: tuple[tuple[Table, str], ...] = ()
    #: Rows of other tables updated with the row, when it is written.
    cascade: tuple[Cascade, ...] = ()


@dataclass(frozen=True)
class Cascade:
    """Rows of a table (an undelete's restored children) given `values`, each its
    revision up by one, in the same transaction as the row they follow."""

    table: Table
    ids: tuple[uuid.UUID, ...]
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Written:
    """What became of a `RowWrite`."""

    applied: bool
    #: Live rows of each `unless_live_children` table, when counted.
    live_children: tuple[int, ...] = ()


class RowReads(Protocol):
    """Whole rows of a table by id, and pages of a query, in one statement and one
    round trip each.

    `seconds_left` is the caller's remaining deadline, applied to the statement.
    Rows come back with attribute access (`row.name`), as Core rows and ORM objects do.
    """

    async def one(self, table: Table, key: Any, seconds_left: float | None) -> Any | None: ...

    async def many(
        self, table: Table, keys: Collection[Any], seconds_left: float | None
    ) -> list[Any]: ...

    async def deleted_with(
        self,
        key: Any,
        delete_time: datetime,
        children: Sequence[tuple[Table, str]],
        seconds_left: float | None,
    ) -> list[list[Any]]:
        """For each (child table, its column naming the parent), the rows of parent `key`
        deleted at `delete_time` — deleted with it — in one statement."""
        ...

    async def select(
        self, statement: AnySelect, params: Mapping[str, Any], seconds_left: float | None
    ) -> list[Any]:
        """The rows of a Core SELECT with its bound parameters' values by name (a List
        page, a search): `statement` is built once and run many times, so it is
        compiled once."""
        ...

    async def close(self) -> None: ...

    def in_use(self) -> int:
        """Connections of its own busy right now (for the pool metrics)."""
        ...


class Listener(Protocol):
    """Wakes the feed when another process commits events (PostgreSQL NOTIFY)."""

    connected: bool

    async def run(self) -> None:
        """Listen until cancelled, reconnecting as needed."""
        ...


class Lease(Protocol):
    """A claim one process holds at a time, given up by its holder's death (the relay's leader)."""

    async def acquire(self) -> bool:
        """Claim it if nobody holds it; whether this process holds it now."""
        ...

    async def held(self) -> bool:
        """Whether this process still holds it (False once its connection is gone)."""
        ...

    async def release(self) -> None: ...


class Backend(ABC):
    """The operations whose SQL or driver calls differ between SQLite and PostgreSQL."""

    #: Whether two transactions can write at once. SQLite has one writer at a time,
    #: so an import there does not prepare its next batch while one commits.
    concurrent_writers: bool
    #: Whether an export selects its cells as text in SQL (cheaper than formatting
    #: them in Python where the database can: measured in bulk/export_cells.py).
    casts_cells_in_sql: bool

    def __init__(self, reader: AsyncEngine, writer: AsyncEngine, rows: RowReads) -> None:
        self.reader = reader
        self.writer = writer
        self.rows = rows

    # ---- connections ----------------------------------------------------------

    @property
    @abstractmethod
    def autocommit_reader(self) -> AsyncEngine:
        """An engine for single SELECTs without BEGIN/ROLLBACK round trips of their own."""

    @abstractmethod
    async def ping(self) -> None:
        """One trivial statement: raises when the database cannot be reached."""

    @abstractmethod
    def pools(self) -> list[Any]:
        """The engines' connection pools, for the pool metrics."""

    def driver_connections_in_use(self) -> int:
        """Connections busy outside SQLAlchemy's pools (asyncpg used directly)."""
        return self.rows.in_use()

    async def dispose(self) -> None:
        await self.rows.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()

    # ---- writes ---------------------------------------------------------------

    @abstractmethod
    async def bound_by_deadline(self, session: AsyncSession, seconds: float) -> None:
        """Make the transaction's statements and lock waits end when the caller gives up."""

    @abstractmethod
    async def append_events(self, session: AsyncSession, rows: Sequence[EventRecord]) -> None:
        """Insert the transaction's events so that sequence order is commit order."""

    async def write_row(self, write: RowWrite) -> Written:
        """Apply `write` in one transaction; not applied when an update found another
        revision or live children.

        Here: its statements one after another in a transaction of the writer (SQLite,
        one writer at a time). PostgreSQL sends it as one statement.
        """
        async with translate_errors(), AsyncSession(self.writer) as session:
            if write.seconds_left is not None:
                await self.bound_by_deadline(session, write.seconds_left)
            written = await _apply(session, write, self.append_events)
            if written.applied:
                await session.commit()  # else closing the session rolls back
        return written

    async def write_locked(
        self,
        read: AnySelect,
        params: Mapping[str, Any],
        build: Callable[[Any], tuple[RowWrite, T]],
        seconds_left: float | None,
    ) -> T | None:
        """The first row of `read` (a SELECT ... FOR UPDATE) and the `RowWrite` that
        `build` makes of it, in one transaction; what `build` returned beside the write,
        or None (nothing written) when `read` finds no row.

        For a row that many processes write at once (a document series), where an
        optimistic `write_row` keeps finding that another process moved the revision
        on: the lock makes the others wait instead of wasting their work. `build`
        writes the row at the revision it was given.
        """
        async with translate_errors(), AsyncSession(self.writer) as session:
            if seconds_left is not None:
                await self.bound_by_deadline(session, seconds_left)
            row = (await session.execute(read, params)).first()
            if row is None:
                return None
            write, result = build(row)
            if not (await _apply(session, write, self.append_events)).applied:
                raise RuntimeError(f"a write after its row's lock did not apply: {write.row_id}")
            await session.commit()
        return result

    @abstractmethod
    def insert_unless_present(self, table: Table, key: Sequence[str]) -> Insert:
        """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING the key's first column."""

    # ---- queries --------------------------------------------------------------

    @abstractmethod
    def any_of(self, column: Any, values: set[Any], item_type: Any) -> ColumnElement[bool]:
        """`column` among `values`, the cheapest way the backend renders a long list."""

    @abstractmethod
    def binary_order(self, column: Any) -> Any:
        """`column` compared byte by byte (the same order on both backends)."""

    @abstractmethod
    def search_prefilter(self, text: Any, pattern: Any) -> list[ColumnElement[bool]]:
        """Extra conditions that let an index narrow a `text LIKE pattern` search."""

    # ---- bulk -----------------------------------------------------------------

    @abstractmethod
    async def write_batch(
        self,
        session: AsyncSession,
        creates: Sequence[dict[str, Any]],
        updates: Sequence[dict[str, Any]],
        meanwhile: Callable[[], Awaitable[T]],
        create_shapes: Sequence[Any] = (),
    ) -> tuple[set[uuid.UUID], T]:
        """Write an import batch's commodity rows; await `meanwhile` while the database works.

        `create_shapes`, if given, holds per create what its values but its own cells
        and its audit stamps are a function of (planning.Plan.create_shapes), or None:
        a backend may reuse what it made of those values for the rows that share one.
        Returns the ids of creates a concurrent write beat, and what `meanwhile` returned.
        """

    # ---- the event feed ---------------------------------------------------------

    @abstractmethod
    def feed_engine(self) -> AsyncEngine:
        """The engine the feed reads new events on (a connection of its own if needed)."""

    @abstractmethod
    def listener(self, wake: Callable[[], None], connect_timeout_s: float) -> Listener | None:
        """What tells this process of events other processes commit; None if nothing can."""

    # ---- leases -----------------------------------------------------------------

    def lease(self, name: str, connect_timeout_s: float) -> Lease | None:
        """A claim on `name` that one process holds at a time; None if the backend has none."""
        return None


_KEYS = IdempotencyKeyRow.__table__


async def count_live_children(
    session: AsyncSession, parent: uuid.UUID, children: Sequence[tuple[Table, str]]
) -> tuple[int, ...]:
    """Live rows of `parent` in each (child table, its column naming the parent), in
    one statement of the session's transaction."""
    counts = [
        select(func.count())
        .select_from(child)
        .where(child.c[column] == parent, child.c.delete_time.is_(None))
        .scalar_subquery()
        for child, column in children
    ]
    return tuple((await session.execute(select(*counts))).one())


async def _apply(
    session: AsyncSession,
    write: RowWrite,
    append_events: Callable[[AsyncSession, Sequence[EventRecord]], Awaitable[None]],
) -> Written:
    """`write`'s statements one after another in the session's transaction."""
    table = write.table
    live: tuple[int, ...] = ()
    if write.unless_live_children:
        live = await count_live_children(session, write.row_id, write.unless_live_children)
        if any(live):
            return Written(False, live)
    if write.expected_revision is None:
        await session.execute(insert(table), [dict(write.values)])
    else:
        changed = await session.execute(
            update(table)
            .where(table.c.id == write.row_id, table.c.revision == write.expected_revision)
            .values(dict(write.values))
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            return Written(False, live)
    for cascade in write.cascade:
        rows = cascade.table
        await session.execute(
            update(rows)
            .where(rows.c.id.in_(cascade.ids))
            .values({**cascade.values, "revision": rows.c.revision + 1})
        )
    if write.claims:
        await session.execute(insert(_KEYS), [dict(claim) for claim in write.claims])
    if write.events:
        await append_events(session, write.events)
    return Written(True, live)
