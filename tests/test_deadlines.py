"""A call's deadline bounds its database work: no hang, no waiter left behind."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc import aio
from sqlalchemy import text

from masterdata.server.storage.engine import Database
from masterdata.v1 import location_pb2 as pb
from masterdata.v1 import location_pb2_grpc


async def _waiting_lock_requests(db: Database) -> int:
    async with db.reader.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(result.scalar_one())


async def test_a_write_blocked_by_a_lock_ends_at_the_deadline(
    channel: aio.Channel, db: Database
) -> None:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    created = (
        await stub.CreateLocation(pb.CreateLocationRequest(location=pb.Location(name="locked")))
    ).location
    async with db.writer.connect() as holder:
        # Another transaction holds the row (PostgreSQL) or the write lock (SQLite).
        if db.is_postgres:
            await holder.execute(
                text("SELECT id FROM locations WHERE id = :id FOR UPDATE"),
                {"id": created.id},
            )
        else:
            await holder.execute(text("UPDATE locations SET city = city"))
        started = time.monotonic()
        with pytest.raises(aio.AioRpcError) as raised:
            await stub.UpdateLocation(
                pb.UpdateLocationRequest(location=pb.Location(id=created.id, city="x")),
                timeout=0.5,
            )
        elapsed = time.monotonic() - started
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert elapsed < 2.0
        if db.is_postgres:
            await asyncio.sleep(0.3)
            assert await _waiting_lock_requests(db) == 0  # the server's statement ended too
        await holder.rollback()
    # and the service is fine afterwards
    again = await stub.UpdateLocation(
        pb.UpdateLocationRequest(location=pb.Location(id=created.id, city="y")), timeout=5
    )
    assert again.location.city == "y"


async def test_a_list_blocked_by_a_lock_ends_at_the_deadline(
    channel: aio.Channel, db: Database
) -> None:
    """A List page's statement is cancelled in the server when the caller gives up."""
    if not db.is_postgres:
        pytest.skip("a SQLite read waits for no lock (WAL)")
    stub = location_pb2_grpc.LocationServiceStub(channel)
    await stub.CreateLocation(pb.CreateLocationRequest(location=pb.Location(name="listed")))
    async with db.writer.connect() as holder:
        await holder.execute(text("LOCK TABLE locations IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        with pytest.raises(aio.AioRpcError) as raised:
            await stub.ListLocations(pb.ListLocationsRequest(filter='name = "listed"'), timeout=0.5)
        elapsed = time.monotonic() - started
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert elapsed < 2.0
        await asyncio.sleep(0.3)
        assert await _waiting_lock_requests(db) == 0  # the server's statement ended too
        await holder.rollback()
    listed = await stub.ListLocations(pb.ListLocationsRequest(filter='name = "listed"'), timeout=5)
    assert [location.name for location in listed.locations] == ["listed"]
