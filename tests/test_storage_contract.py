"""The storage contract: what every Backend (storage/backend.py) promises, on both backends.

One set of cases, run against SQLiteBackend and PostgresBackend through the suite's
two databases (as the eventsourcing library runs one recorder test case against
its SQLite and PostgreSQL recorders). What a backend may do differently — how it
does it — is its own; what the layers above rely on is checked here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, literal, select, update

from masterdata.server.app import App
from masterdata.server.domain.errors import DeadlineExceeded
from masterdata.server.storage.backend import Backend, Cascade, EventRecord, RowWrite
from masterdata.server.storage.base import utc
from masterdata.server.storage.engine import Database
from masterdata.server.storage.errors import UniqueViolation
from masterdata.server.storage.models.commodity import CommodityRow, VarietyRow
from masterdata.server.storage.models.events import EventRow, IdempotencyKeyRow
from masterdata.server.storage.unit_of_work import PendingEvent, UnitOfWork, event_rows

_C = CommodityRow.__table__
_KEYS = IdempotencyKeyRow.__table__
_V = VarietyRow.__table__


@pytest.fixture
def backend(db: Database) -> Backend:
    return db.backend


def with_defaults(table: Any) -> dict[str, Any]:
    """Every column of `table`: its default, else None."""
    row = {c.key: None for c in table.columns}
    for column in table.columns:
        default = column.default
        if default is not None and not default.is_callable:
            row[column.key] = default.arg
        elif default is not None:
            row[column.key] = default.arg(None)
    return row


def commodity(name: str, **values: Any) -> dict[str, Any]:
    """A complete commodities row, as an import batch stages it."""
    now = datetime.now(UTC)
    row = with_defaults(_C)
    row |= {
        "id": uuid.uuid4(),
        "name": name,
        "category": "Fibre",
        "create_time": now,
        "update_time": now,
        "created_by": "contract",
        "updated_by": "contract",
        "revision": 1,
        "delete_time": None,
    }
    return row | values


async def test_ping_answers_while_the_database_is_up(backend: Backend) -> None:
    await backend.ping()


async def test_insert_unless_present_claims_a_key_once(db: Database, backend: Backend) -> None:
    statement = backend.insert_unless_present(_KEYS, ("request_id", "identity", "method"))
    values = {
        "request_id": str(uuid.uuid4()),
        "identity": "erp",
        "method": "/m",
        "fingerprint": b"f",
        "response": b"",
        "create_time": datetime.now(UTC),
    }
    async with db.writer.begin() as conn:
        first = (await conn.execute(statement, values)).first()
        again = (await conn.execute(statement, values | {"response": b"other"})).first()
        other = (await conn.execute(statement, values | {"identity": "crm"})).first()
    assert first is not None and again is None and other is not None


def event_of(row: dict[str, Any], verb: str) -> EventRecord:
    return event_rows(
        [
            PendingEvent(
                aggregate_type="commodity",
                aggregate_id=row["id"],
                aggregate_version=row["revision"],
                event_type=f"commodity.{verb}",
                resource_type="masterdata.v1.Commodity",
                resource=b"\x0a\x01x",
            )
        ],
        actor="contract",
        request_id="",
        now=datetime.now(UTC),
    )[0]


def key_row(request_id: str) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "identity": "erp",
        "method": "/m",
        "fingerprint": b"f",
        "response": b"reply",
        "create_time": datetime.now(UTC),
    }


async def stored(db: Database, table: Any, row_id: uuid.UUID) -> Any:
    async with db.reader.connect() as conn:
        return (await conn.execute(select(table).where(table.c.id == row_id))).one_or_none()


async def test_write_row_inserts_and_updates_only_the_revision_it_read(
    db: Database, backend: Backend
) -> None:
    row = commodity("Cotton", supported_currencies=["INR"], country_tax_codes=None)
    key = str(uuid.uuid4())
    created = RowWrite(_C, row["id"], row, None, [event_of(row, "created")], [key_row(key)], 5.0)
    assert (await backend.write_row(created)).applied
    kept = await stored(db, _C, row["id"])
    assert (kept.name, kept.supported_currencies, kept.revision) == ("Cotton", ["INR"], 1)
    changes = {"description": "long staple", "revision": 2, "update_time": datetime.now(UTC)}
    stale = RowWrite(_C, row["id"], changes, 7, [event_of(row, "updated")], [], None)
    assert not (await backend.write_row(stale)).applied  # nothing, not even its event
    fresh = RowWrite(_C, row["id"], changes, 1, [event_of(row, "updated")], [], None)
    assert (await backend.write_row(fresh)).applied
    assert (await stored(db, _C, row["id"])).description == "long staple"
    async with db.reader.connect() as conn:
        types = list(await conn.execute(select(EventRow.event_type).order_by(EventRow.sequence)))
    assert [t for (t,) in types] == ["commodity.created", "commodity.updated"]


async def test_write_row_under_a_stored_key_writes_nothing(db: Database, backend: Backend) -> None:
    key = str(uuid.uuid4())
    first = commodity("Jute")
    await backend.write_row(RowWrite(_C, first["id"], first, None, [], [key_row(key)], None))
    twin = commodity("Hemp")
    with pytest.raises(UniqueViolation):
        await backend.write_row(RowWrite(_C, twin["id"], twin, None, [], [key_row(key)], None))
    assert await stored(db, _C, twin["id"]) is None


async def test_write_row_guard_counts_live_children_and_cascade_restores(
    db: Database, backend: Backend
) -> None:
    parent = commodity("Castor")
    await backend.write_row(RowWrite(_C, parent["id"], parent, None, [], [], None))
    gone = datetime.now(UTC)
    child = with_defaults(_V) | {
        "id": uuid.uuid4(),
        "commodity_id": parent["id"],
        "name": "GCH-7",
        "create_time": gone,
        "update_time": gone,
        "revision": 1,
    }
    await backend.write_row(RowWrite(_V, child["id"], child, None, [], [], None))
    delete = {"delete_time": gone, "update_time": gone, "revision": 2}
    guarded = RowWrite(_C, parent["id"], delete, 1, [], [], None, ((_V, "commodity_id"),))
    refused = await backend.write_row(guarded)
    assert (refused.applied, refused.live_children) == (False, (1,))
    child_gone = {"delete_time": gone, "update_time": gone, "revision": 2}
    await backend.write_row(RowWrite(_V, child["id"], child_gone, 1, [], [], None))
    assert (await backend.write_row(guarded)).applied
    [[taken]] = await backend.rows.deleted_with(parent["id"], gone, [(_V, "commodity_id")], 5.0)
    assert (taken.id, taken.name, utc(taken.delete_time)) == (child["id"], "GCH-7", gone)
    back = {"delete_time": None, "update_time": datetime.now(UTC)}
    restore = Cascade(_V, (child["id"],), back)
    undelete = RowWrite(_C, parent["id"], back | {"revision": 3}, 2, [], [], None, (), (restore,))
    assert (await backend.write_row(undelete)).applied
    restored = await stored(db, _V, child["id"])
    assert (restored.delete_time, restored.revision) == (None, 3)


async def test_write_locked_serialises_writers_of_one_row(db: Database, backend: Backend) -> None:
    """Writers that each lock the row, build their write from what they read and write
    it at that revision all apply, one after another: none reads a revision another
    then moves on (an optimistic write_row would have found another revision)."""
    row = commodity("Guar", description="0")
    await backend.write_row(RowWrite(_C, row["id"], row, None, [], [], None))
    read = select(_C).where(_C.c.id == row["id"]).with_for_update()
    seen: list[int] = []

    def increment(current: Any) -> tuple[RowWrite, int]:
        seen.append(current.revision)
        changes = {"description": str(int(current.description) + 1)}
        changes["revision"] = current.revision + 1
        event = event_of({"id": row["id"], "revision": current.revision + 1}, "updated")
        return RowWrite(_C, row["id"], changes, current.revision, [event], [], None), 1

    writers = [backend.write_locked(read, {}, increment, 10.0) for _ in range(12)]
    assert await asyncio.gather(*writers) == [1] * 12
    kept = await stored(db, _C, row["id"])
    assert (kept.description, kept.revision) == ("12", 13)
    assert sorted(seen) == list(range(1, 13))  # each writer read its predecessor's
    missing = select(_C).where(_C.c.id == uuid.uuid4()).with_for_update()
    assert await backend.write_locked(missing, {}, increment, None) is None
    async with db.reader.connect() as conn:
        appended = await conn.scalar(select(func.count()).where(EventRow.aggregate_id == row["id"]))
    assert appended == 12


async def test_write_locked_waits_for_the_lock_no_longer_than_the_deadline(
    db: Database, backend: Backend
) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite has one writer connection, the holder's: the call's deadline ends it")
    row = commodity("Sesame")
    await backend.write_row(RowWrite(_C, row["id"], row, None, [], [], None))
    read = select(_C).where(_C.c.id == row["id"]).with_for_update()

    def never(current: Any) -> tuple[RowWrite, None]:
        raise AssertionError("the row was read while another transaction held it")

    async with db.writer.connect() as holder:
        await holder.execute(update(_C).where(_C.c.id == row["id"]).values(name="Sesame"))
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await backend.write_locked(read, {}, never, 0.3)
        assert time.monotonic() - started < 2.0
        await holder.rollback()


async def test_any_of_is_membership(db: Database, backend: Backend) -> None:
    names = [f"c{i}" for i in range(5)]
    async with db.writer.begin() as conn:
        await conn.execute(_C.insert(), [commodity(n) for n in names])
    wanted = {"c1", "c3", "nope"}
    stmt = select(_C.c.name).where(backend.any_of(_C.c.name, wanted, _C.c.name.type))
    async with db.reader.connect() as conn:
        found = set((await conn.execute(stmt)).scalars())
    assert found == {"c1", "c3"}


async def test_binary_order_is_byte_order(db: Database, backend: Backend) -> None:
    async with db.writer.begin() as conn:
        await conn.execute(_C.insert(), [commodity(n) for n in ("b1", "B2", "a3", "A4")])
    stmt = select(_C.c.name).order_by(backend.binary_order(_C.c.name))
    async with db.reader.connect() as conn:
        assert list((await conn.execute(stmt)).scalars()) == ["A4", "B2", "a3", "b1"]


async def test_search_prefilter_never_drops_a_match(db: Database, backend: Backend) -> None:
    """The prefilter only helps an index: the rows matching LIKE are all still there."""
    async with db.writer.begin() as conn:
        await conn.execute(_C.insert(), [commodity(n) for n in ("Shankar-6", "Jute", "MCU-5")])
    text = func.lower(_C.c.name)
    pattern = literal("%u%")
    stmt = select(_C.c.name).where(text.like(pattern), *backend.search_prefilter(text, pattern))
    async with db.reader.connect() as conn:
        assert set((await conn.execute(stmt)).scalars()) == {"Jute", "MCU-5"}


async def test_write_batch_creates_and_updates_and_runs_meanwhile(
    db: Database, backend: Backend
) -> None:
    stored = commodity("Kapas")
    async with db.writer.begin() as conn:
        await conn.execute(_C.insert(), [stored])
    creates = [commodity(f"New {i}") for i in range(3)]
    update = stored | {"description": "updated", "revision": 2}

    async def meanwhile() -> str:
        await asyncio.sleep(0)
        return "built"

    async with UnitOfWork(db, actor="contract") as uow:
        await uow.session.execute(select(_C.c.id))  # a batch looks its rows up first
        lost, built = await backend.write_batch(uow.session, creates, [update], meanwhile)
        await uow.commit()
    assert (lost, built) == (set(), "built")
    async with db.reader.connect() as conn:
        rows = {r.name: r for r in await conn.execute(select(_C))}
    assert set(rows) == {"Kapas", "New 0", "New 1", "New 2"}
    assert (rows["Kapas"].description, rows["Kapas"].revision) == ("updated", 2)
    assert rows["New 1"].id == creates[1]["id"]


async def test_events_append_in_commit_order_with_every_field(app: App, db: Database) -> None:
    async def write(actor: str, request_id: str, changed: tuple[str, ...]) -> None:
        async with UnitOfWork(db, actor=actor, request_id=request_id) as uow:
            for version in (1, 2):
                uow.record(
                    PendingEvent(
                        aggregate_type="location",
                        aggregate_id=uuid.uuid4(),
                        aggregate_version=version,
                        event_type="location.updated",
                        resource_type="masterdata.v1.Location",
                        resource=b"\x0a\x01x",
                        changed_fields=changed,
                    )
                )
            await uow.commit()

    await write("erp", "r-1", ("name", "city"))
    await write("crm", "", ())
    async with db.reader.connect() as conn:
        rows = list(await conn.execute(select(EventRow.__table__).order_by(EventRow.sequence)))
    assert [r.sequence for r in rows] == sorted(r.sequence for r in rows)
    assert [(r.actor, r.request_id, r.aggregate_version) for r in rows] == [
        ("erp", "r-1", 1),
        ("erp", "r-1", 2),
        ("crm", "", 1),
        ("crm", "", 2),
    ]
    assert [list(r.changed_fields) for r in rows] == [["name", "city"]] * 2 + [[]] * 2
    assert all(bytes(r.resource) == b"\x0a\x01x" for r in rows)


async def test_the_feed_engine_reads_what_was_committed(db: Database, backend: Backend) -> None:
    engine = backend.feed_engine()
    count = select(func.count()).select_from(EventRow)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(count)).scalar() == 0
        await _commit_one_event(db)
        async with engine.connect() as conn:
            assert (await conn.execute(count)).scalar() == 1
    finally:
        if engine is not db.reader:
            await engine.dispose()


async def test_a_listener_if_any_wakes_on_commits_of_others(db: Database, backend: Backend) -> None:
    woken = asyncio.Event()
    listener = backend.listener(woken.set, connect_timeout_s=5)
    if listener is None:
        assert not backend.concurrent_writers, "several writers need a listener"
        return
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(woken.wait(), 5)  # woken once connected
        woken.clear()
        await _commit_one_event(db)
        await asyncio.wait_for(woken.wait(), 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _commit_one_event(db: Database) -> None:
    async with UnitOfWork(db, actor="other") as uow:
        uow.record(
            PendingEvent(
                aggregate_type="location",
                aggregate_id=uuid.uuid4(),
                aggregate_version=1,
                event_type="location.created",
                resource_type="masterdata.v1.Location",
                resource=b"",
            )
        )
        await uow.commit()
