"""A PostgreSQL outage: UNAVAILABLE within the deadline, NOT_SERVING, recovery without restart.

The server reaches PostgreSQL through a TCP proxy owned by the test, which cuts
every connection and refuses new ones, then listens again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from security_support import serving
from sqlalchemy.engine import make_url
from support import eventually

from masterdata.server.app import App
from masterdata.server.config import Settings
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database
from masterdata.v1 import location_pb2, location_pb2_grpc

pytestmark = pytest.mark.timeout(120)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
DEADLINE_S = 3.0


class TcpProxy:
    """Forwards 127.0.0.1:`port` to an upstream; `cut()` drops it all, `restore()` resumes."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Stop listening (new connections are refused) and reset every open one."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def restore(self) -> None:
        await self.start()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@pytest.fixture
async def proxied(postgres_url: str) -> AsyncIterator[tuple[App, TcpProxy]]:
    db = Database.connect(Settings.load(environ={}, database_url=postgres_url))
    try:
        await migrate.upgrade(db.writer)
    finally:
        await db.dispose()
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()  # up while the app starts (the event feed's start hook connects)
    through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    async with serving(
        through, health_interval_s=0.3, connect_timeout_s=2.0, pool_timeout_s=2.0
    ) as app:
        try:
            yield app, proxy
        finally:
            if proxy._server is None:
                await proxy.restore()
    with contextlib.suppress(AssertionError):
        await proxy.cut()


async def health(channel: aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="masterdata.v1.LocationService"), timeout=2
    )
    return int(reply.status)


async def test_outage_gives_unavailable_fast_and_recovers_without_restart(proxied) -> None:
    app, proxy = proxied
    async with aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        await eventually(lambda: health(channel), 10, want=SERVING)
        created = (
            await stub.CreateLocation(
                location_pb2.CreateLocationRequest(
                    location=location_pb2.Location(name=f"before {uuid.uuid4()}")
                ),
                timeout=DEADLINE_S,
            )
        ).location
        get = location_pb2.GetLocationRequest(id=created.id)
        await stub.GetLocation(get, timeout=DEADLINE_S)

        await proxy.cut()
        calls = {
            "get": lambda: stub.GetLocation(get, timeout=DEADLINE_S),
            "list": lambda: stub.ListLocations(
                location_pb2.ListLocationsRequest(), timeout=DEADLINE_S
            ),
            "create": lambda: stub.CreateLocation(
                location_pb2.CreateLocationRequest(
                    location=location_pb2.Location(name=f"during {uuid.uuid4()}")
                ),
                timeout=DEADLINE_S,
            ),
            "update": lambda: stub.UpdateLocation(
                location_pb2.UpdateLocationRequest(
                    location=location_pb2.Location(id=created.id, city="Rajkot")
                ),
                timeout=DEADLINE_S,
            ),
        }
        for _round in range(2):  # first on pooled (now dead) connections, then on new ones
            for name, call in calls.items():
                started = time.monotonic()
                with pytest.raises(aio.AioRpcError) as raised:
                    await call()
                elapsed = time.monotonic() - started
                assert raised.value.code() == grpc.StatusCode.UNAVAILABLE, (
                    name,
                    raised.value.code(),
                    raised.value.details(),
                )
                assert elapsed < DEADLINE_S, f"{name} took {elapsed:.1f}s"
        await eventually(lambda: health(channel), 5, want=NOT_SERVING)

        await proxy.restore()
        await eventually(lambda: health(channel), 10, want=SERVING)
        for call in calls.values():
            await call()
        got = await stub.GetLocation(get, timeout=DEADLINE_S)
        assert got.location.city == "Rajkot"
