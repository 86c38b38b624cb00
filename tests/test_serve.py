"""`masterdata serve` as operators run it: start-up, migration gate, shutdown, health, scale-out."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from processes import free_port, run_masterdata, running_server, start_server
from support import eventually, expect_failure, postgres_dsn

from masterdata.server.app import build
from masterdata.server.config import Settings
from masterdata.v1 import location_pb2 as pb
from masterdata.v1 import location_pb2_grpc

pytestmark = pytest.mark.timeout(180)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
#: Keep two server processes well inside PostgreSQL's max_connections.
SMALL_POOL = {
    "MASTERDATA_POOL_SIZE": "5",
    "MASTERDATA_MAX_OVERFLOW": "5",
    "MASTERDATA_READ_POOL_SIZE": "3",
}
CALL_TIMEOUT_S = 30.0
Stub = location_pb2_grpc.LocationServiceStub


@contextlib.asynccontextmanager
async def stubs_for(*targets: str) -> AsyncIterator[list[Stub]]:
    """One LocationService stub per server address."""
    async with contextlib.AsyncExitStack() as stack:
        channels = [await stack.enter_async_context(aio.insecure_channel(t)) for t in targets]
        yield [Stub(channel) for channel in channels]


@contextlib.asynccontextmanager
async def two_servers(database_url: str) -> AsyncIterator[list[Stub]]:
    """Two `masterdata serve` processes on one database, as a scaled-out deployment runs."""
    async with contextlib.AsyncExitStack() as stack:
        first = await stack.enter_async_context(running_server(database_url, SMALL_POOL))
        second = await stack.enter_async_context(running_server(database_url, SMALL_POOL))
        yield await stack.enter_async_context(stubs_for(first.target, second.target))


async def create(stub: Stub, **fields: object) -> pb.Location:
    request = pb.CreateLocationRequest(location=pb.Location(**fields))
    return (await stub.CreateLocation(request, timeout=CALL_TIMEOUT_S)).location


async def list_all(stubs: list[Stub], page_size: int = 50) -> list[pb.Location]:
    """Page through every location, alternating servers so page tokens cross processes."""
    found: list[pb.Location] = []
    token = ""
    for page in range(1000):
        stub = stubs[page % len(stubs)]
        reply = await stub.ListLocations(
            pb.ListLocationsRequest(page_size=page_size, page_token=token), timeout=CALL_TIMEOUT_S
        )
        found.extend(reply.locations)
        token = reply.next_page_token
        if not token:
            return found
    raise AssertionError("ListLocations never returned an empty next_page_token")


async def health_status(target: str, service: str) -> int | None:
    """The Health/Check status, or None when the service name is not (yet) registered."""
    async with aio.insecure_channel(target) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=2
            )
        except aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return int(reply.status)


async def fetch_events(database_url: str) -> list[asyncpg.Record]:
    """Every event row, read straight from PostgreSQL ordered by sequence."""
    conn = await asyncpg.connect(postgres_dsn(database_url), timeout=5)
    try:
        columns = "sequence, event_type, aggregate_id, request_id"
        return list(await conn.fetch(f"SELECT {columns} FROM events ORDER BY sequence"))
    finally:
        await conn.close()


async def test_sqlite_serve_migrates_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "masterdata.db"
    path.parent.mkdir()
    grace_s = 3.0
    server = await start_server(
        f"sqlite+aiosqlite:///{path}", {"MASTERDATA_SHUTDOWN_GRACE_S": str(grace_s)}
    )
    try:
        assert path.exists()
        async with stubs_for(server.target) as [stub]:
            created = await create(stub, name="Gondal yard", state_code="GJ")
            got = await stub.GetLocation(pb.GetLocationRequest(id=created.id), timeout=10)
            assert got.location == created and created.region == pb.REGION_WEST
        started = time.monotonic()
        code = await server.terminate(timeout_s=grace_s + 10)
        elapsed = time.monotonic() - started
        assert code == 0, server.describe()
        assert elapsed < grace_s, f"took {elapsed:.1f}s to stop; {server.describe()}"
        assert "shutting down" in server.stderr
    finally:
        await server.kill()
    server.stderr_path.unlink()


async def test_health_of_a_serving_process(tmp_path: Path) -> None:
    async with running_server(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}") as server:
        for service in ("", "masterdata.v1.LocationService"):
            await eventually(lambda s=service: health_status(server.target, s), 5, want=SERVING)
        assert await health_status(server.target, "no.such.Service") is None  # NOT_FOUND


async def test_postgres_serve_refuses_an_unmigrated_database(empty_postgres_url: str) -> None:
    started = time.monotonic()
    refused = await run_masterdata(
        ["serve", "--listen", f"127.0.0.1:{free_port()}"], empty_postgres_url, timeout_s=20
    )
    line = refused.refusal()  # a set-up mistake, like the others: one line, exit 2
    assert refused.stderr.strip() == line, "nothing before it, not even log lines"
    assert time.monotonic() - started < 15
    assert "not migrated" in line and "masterdata migrate" in line, refused.stderr

    migrated = await run_masterdata(["migrate"], empty_postgres_url)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout

    async with running_server(empty_postgres_url) as server, stubs_for(server.target) as [stub]:
        created = await create(stub, name="Kandla port", state_code="GJ")
        assert created.region == pb.REGION_WEST


async def test_two_processes_share_one_postgres_database(migrated_postgres_url: str) -> None:
    async with two_servers(migrated_postgres_url) as stubs:

        async def contend(i: int) -> grpc.StatusCode:
            """Create the shared place_id; OK or the failure code."""
            try:
                await create(stubs[i % 2], name=f"contender {i}", place_id="ChIJ-shared")
            except aio.AioRpcError as error:
                return error.code()
            return grpc.StatusCode.OK

        distinct = [create(stubs[i % 2], name=f"yard {i:03}") for i in range(200)]
        contenders = [contend(i) for i in range(20)]
        results = await asyncio.gather(*distinct, *contenders)
        created, outcomes = results[:200], results[200:]
        assert len({loc.id for loc in created}) == 200
        assert outcomes.count(grpc.StatusCode.OK) == 1
        assert outcomes.count(grpc.StatusCode.ALREADY_EXISTS) == 19, outcomes

        for order in (stubs, stubs[::-1]):
            listed = await list_all(order)
            assert len(listed) == 201 and len({loc.id for loc in listed}) == 201
    ids = {loc.id for loc in listed}
    assert {loc.id for loc in created} <= ids

    rows = await fetch_events(migrated_postgres_url)
    assert [row["event_type"] for row in rows] == ["location.created"] * 201
    sequences = [row["sequence"] for row in rows]
    assert len(set(sequences)) == 201
    assert all(a < b for a, b in itertools.pairwise(sequences))
    assert {str(row["aggregate_id"]) for row in rows} == ids


async def test_request_id_is_idempotent_across_processes(migrated_postgres_url: str) -> None:
    request = pb.CreateLocationRequest(
        location=pb.Location(name="Once only"), request_id=str(uuid.uuid4())
    )
    async with two_servers(migrated_postgres_url) as stubs:
        replies = await asyncio.gather(
            *(stubs[i % 2].CreateLocation(request, timeout=CALL_TIMEOUT_S) for i in range(20))
        )
        assert len({reply.location.id for reply in replies}) == 1
        assert len(await list_all(stubs)) == 1
    rows = await fetch_events(migrated_postgres_url)
    assert len(rows) == 1 and str(rows[0]["aggregate_id"]) == replies[0].location.id
    assert rows[0]["request_id"] == request.request_id


async def test_unreachable_database_is_not_serving_and_unavailable() -> None:
    settings = Settings.load(
        environ={},
        database_url="postgresql+asyncpg://root@127.0.0.1:1/none",
        listen="127.0.0.1:0",
        health_interval_s=0.2,
    )
    app = build(settings)
    try:
        await app.start()  # must not need the database: health reports it instead
        target = f"127.0.0.1:{app.port}"
        for service in ("", "masterdata.v1.LocationService"):
            await eventually(lambda s=service: health_status(target, s), 5, want=NOT_SERVING)
        async with stubs_for(target) as [stub]:
            started = time.monotonic()
            for call in (
                stub.CreateLocation(
                    pb.CreateLocationRequest(location=pb.Location(name="x")), timeout=15
                ),
                stub.GetLocation(pb.GetLocationRequest(id=str(uuid.uuid4())), timeout=15),
                stub.ListLocations(pb.ListLocationsRequest(), timeout=15),
            ):
                await expect_failure(call, grpc.StatusCode.UNAVAILABLE)
            assert time.monotonic() - started < 15
    finally:
        await app.stop(0)
