"""A database that refuses new connections for want of slots: UNAVAILABLE, not INTERNAL.

PostgreSQL answers a connection beyond max_connections (or a role's or database's
connection limit) with SQLSTATE 53300, too_many_connections. That is a passing
state of the database, like an outage: the caller should retry later. A role with
CONNECTION LIMIT 0 gives exactly that answer to every connection it tries.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from grpc import aio
from sqlalchemy.engine import make_url
from support import make_settings

from masterdata.server.app import App, build
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database
from masterdata.v1 import location_pb2, location_pb2_grpc

pytestmark = pytest.mark.timeout(60)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def refused(postgres_url: str) -> AsyncIterator[App]:
    """A server whose database role may open no connection at all."""
    db = Database.connect(make_settings(postgres_url))
    try:
        await migrate.upgrade(db.writer)
    finally:
        await db.dispose()
    role = f"md_no_slots_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(_dsn(postgres_url))
    await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 0")
    app = build(make_settings(make_url(postgres_url).set(username=role).render_as_string()))
    try:
        await app.start()
        yield app
    finally:
        await app.stop(0)
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def test_no_free_connection_slot_is_unavailable(refused: App) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{refused.port}") as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        calls = {
            "get": stub.GetLocation(location_pb2.GetLocationRequest(id=str(uuid.uuid4()))),
            "list": stub.ListLocations(location_pb2.ListLocationsRequest()),
            "create": stub.CreateLocation(
                location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Unjha"))
            ),
        }
        for name, call in calls.items():
            with pytest.raises(aio.AioRpcError) as raised:
                await call
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, (
                name,
                raised.value.details(),
            )
