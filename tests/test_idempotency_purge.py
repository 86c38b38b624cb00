"""Stored replies of request_ids are forgotten after the retention, and only then."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from grpc import aio
from sqlalchemy import func, select, update

from masterdata.server.resources.idempotency_purge import purge_expired
from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.events import IdempotencyKeyRow
from masterdata.server.storage.models.location import LocationRow
from masterdata.v1 import location_pb2 as pb
from masterdata.v1 import location_pb2_grpc

RETENTION = timedelta(hours=24)


async def create(channel: aio.Channel, name: str, request_id: str) -> str:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    request = pb.CreateLocationRequest(location=pb.Location(name=name), request_id=request_id)
    return (await stub.CreateLocation(request)).location.id


async def locations(db: Database) -> int:
    async with db.reader.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(LocationRow))).scalar())


async def backdate(db: Database, request_id: str, age: timedelta) -> None:
    async with db.writer.begin() as conn:
        await conn.execute(
            update(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.request_id == request_id)
            .values(create_time=datetime.now(UTC) - age)
        )


async def test_expired_request_ids_are_purged_and_recent_ones_kept(
    channel: aio.Channel, db: Database
) -> None:
    old, recent = str(uuid.uuid4()), str(uuid.uuid4())
    first_old = await create(channel, "Unjha yard", old)
    first_recent = await create(channel, "Gondal yard", recent)
    await backdate(db, old, RETENTION + timedelta(minutes=1))
    await backdate(db, recent, RETENTION - timedelta(minutes=1))

    assert await purge_expired(db, RETENTION) == 1

    # Within the retention a retry still returns the first result and creates nothing.
    assert await create(channel, "Gondal yard", recent) == first_recent
    assert await locations(db) == 2
    # After it the key is gone: the same request_id acts again.
    assert await create(channel, "Unjha yard 2", old) != first_old
    assert await locations(db) == 3
    assert await purge_expired(db, RETENTION) == 0
