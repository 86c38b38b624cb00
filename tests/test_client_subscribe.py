"""`client.subscribe` resumes by itself across a real server restart: nothing lost or repeated.

`masterdata serve` subprocesses on a database of the test's own (both backends); the
subscriber reaches them through a TCP proxy so that its target survives the restart
(a restarted server binds a new port).
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from client_support import TcpProxy, backend, fresh_database
from processes import running_server, start_server
from support import eventually

from masterdata.client import Client, SyncClient
from masterdata.v1 import events_pb2
from masterdata.v1 import location_pb2 as pb

__all__ = ["backend"]  # the parametrised fixture
pytestmark = pytest.mark.timeout(120)
FAST_FEED = {"MASTERDATA_HEARTBEAT_INTERVAL_S": "0.5", "MASTERDATA_FEED_POLL_INTERVAL_S": "0.5"}


async def create(client: Client, name: str) -> None:
    await client.locations.CreateLocation(pb.CreateLocationRequest(location=pb.Location(name=name)))


async def collect(client: Client, into: list[events_pb2.Event], **filters: object) -> None:
    async for event in client.subscribe(**filters):  # type: ignore[arg-type]
        into.append(event)


async def test_subscribe_resumes_across_a_server_restart(backend, tmp_path) -> None:
    kind, postgres_url = backend
    received: list[events_pb2.Event] = []
    async with fresh_database(kind, tmp_path, postgres_url) as url:
        first = await start_server(url, FAST_FEED)
        try:
            async with (
                TcpProxy(first.port) as proxy,
                Client(proxy.target) as subscriber,
                Client(first.target) as writer,
            ):
                await create(writer, "before subscribing")
                task = asyncio.create_task(
                    collect(subscriber, received, aggregate_types=["location"])
                )
                for i in range(4):
                    await create(writer, f"live {i}")
                await eventually(lambda: len(received) == 5, what="5 events before the restart")
                assert await first.terminate() == 0, first.describe()  # streams end UNAVAILABLE
                async with running_server(url, FAST_FEED) as second:
                    async with Client(second.target) as writer2:
                        for i in range(5):  # committed while the subscriber is cut off
                            await create(writer2, f"while away {i}")
                        proxy.retarget(second.port)
                        for i in range(3):
                            await create(writer2, f"after restart {i}")
                        await eventually(lambda: len(received) >= 13, what="13 events")
                        await asyncio.sleep(0.5)  # nothing more may arrive
                        heads = await writer2.head_sequence()
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        finally:
            await first.kill()
    assert [e.sequence for e in received] == list(range(1, 14)) and heads == 13
    assert [e.aggregate_type for e in received] == ["location"] * 13


async def test_sync_subscribe_resumes_across_a_server_restart(backend, tmp_path) -> None:
    kind, postgres_url = backend
    async with fresh_database(kind, tmp_path, postgres_url) as url:
        first = await start_server(url, FAST_FEED)
        try:
            async with TcpProxy(first.port) as proxy, Client(first.target) as writer:
                for i in range(3):
                    await create(writer, f"before {i}")

                def read(count: int) -> list[int]:
                    with SyncClient(proxy.target) as client:
                        stream = client.subscribe(after_sequence=1)
                        return [next(stream).sequence for _ in range(count)]

                reader = asyncio.create_task(asyncio.to_thread(read, 3))
                await asyncio.sleep(0.5)
                assert await first.terminate() == 0, first.describe()
                async with running_server(url, FAST_FEED) as second:
                    proxy.retarget(second.port)
                    async with Client(second.target) as writer2:
                        await create(writer2, "after restart")
                        sequences = await asyncio.wait_for(reader, 30)
        finally:
            await first.kill()
    assert sequences == [2, 3, 4]
