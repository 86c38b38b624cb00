"""SIGTERM with unary calls in flight and an open subscription, on a real `masterdata serve`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from processes import start_server
from sqlalchemy.engine import make_url
from support import events

from masterdata.server.config import Settings
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database
from masterdata.v1 import events_pb2, events_pb2_grpc, location_pb2, location_pb2_grpc

pytestmark = pytest.mark.timeout(120)
GRACE_S = 8.0
IN_FLIGHT = 3


@pytest.fixture(params=["sqlite", "postgres"])
def server_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'masterdata.db'}"
    return str(request.getfixturevalue("postgres_url"))


@contextlib.asynccontextmanager
async def database(url: str) -> AsyncIterator[Database]:
    db = Database.connect(Settings.load(environ={}, database_url=url))
    try:
        yield db
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def writes_blocked(url: str, location_id: str) -> AsyncIterator[None]:
    """Another transaction holds the row (PostgreSQL) or SQLite's write lock."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        conn = sqlite3.connect(parsed.database or "", isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    dsn = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    pg = await asyncpg.connect(dsn, timeout=5)
    try:
        async with pg.transaction():
            await pg.execute(
                "SELECT id FROM locations WHERE id = $1 FOR UPDATE", uuid.UUID(location_id)
            )
            yield
    finally:
        await pg.close()


async def stream_end(stream: aio.UnaryStreamCall) -> grpc.StatusCode:
    """Read a stream to its end; the status it ended with."""
    try:
        while await stream.read() is not aio.EOF:
            pass
    except aio.AioRpcError as error:
        return error.code()
    return await stream.code()


async def is_serving(target: str) -> bool:
    async with aio.insecure_channel(target) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
        except aio.AioRpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_sigterm_finishes_unary_calls_and_ends_streams(server_url: str) -> None:
    async with database(server_url) as db:
        if db.is_postgres:
            await migrate.upgrade(db.writer)
    server = await start_server(server_url, {"MASTERDATA_SHUTDOWN_GRACE_S": str(GRACE_S)})
    try:
        async with aio.insecure_channel(server.target) as channel:
            stub = location_pb2_grpc.LocationServiceStub(channel)
            request = location_pb2.CreateLocationRequest(
                location=location_pb2.Location(name=f"shutdown {uuid.uuid4()}")
            )
            target = (await stub.CreateLocation(request, timeout=10)).location
            feed = events_pb2_grpc.EventServiceStub(channel).SubscribeEvents(
                events_pb2.SubscribeEventsRequest()
            )
            while not (await feed.read()).HasField("caught_up"):
                pass
            async with writes_blocked(server_url, target.id):
                updates = [
                    asyncio.ensure_future(
                        stub.UpdateLocation(
                            location_pb2.UpdateLocationRequest(
                                location=location_pb2.Location(id=target.id, city=f"city {i}")
                            ),
                            timeout=30,
                        )
                    )
                    for i in range(IN_FLIGHT)
                ]
                await asyncio.sleep(0.5)  # the calls reach the server and wait for the lock
                server.process.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                async with asyncio.timeout(5):
                    assert await stream_end(feed) == grpc.StatusCode.UNAVAILABLE
                assert not await is_serving(server.target)  # NOT_SERVING or refused
                assert not any(u.done() for u in updates)
                await asyncio.sleep(0.5)
            replies = await asyncio.gather(*updates)  # every in-flight call completes
            assert {r.location.city for r in replies} <= {f"city {i}" for i in range(IN_FLIGHT)}
        code = await server.terminate(timeout_s=GRACE_S + 5)
        elapsed = time.monotonic() - signalled
        assert code == 0, server.describe()
        assert elapsed < GRACE_S, f"exit took {elapsed:.1f}s; {server.describe()}"
    finally:
        await server.kill()
    async with database(server_url) as db:  # no committed write was lost
        written = await events(db, aggregate_id=uuid.UUID(target.id))
        assert [e.event_type for e in written] == ["location.created"] + ["location.updated"] * 3
    server.stderr_path.unlink(missing_ok=True)
