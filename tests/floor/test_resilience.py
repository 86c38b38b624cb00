"""The SDK's retries and resumable feed, the parts most tied to grpcio's own behaviour
(its service-config retries, stream ends on a restart), at the client's floors too.

The proxies are tests/client_support.py's: a grpc.aio one answering UNAVAILABLE after the
real call succeeded, and a TCP one a restarted server can be put behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import pytest
from client_support import FlakyGrpcProxy, TcpProxy
from processes import ServerProcess, running_server, start_server

from masterdata.client import Client, SyncClient
from masterdata.v1 import events_pb2
from masterdata.v1 import location_pb2 as pb

SERVICE = "/masterdata.v1.LocationService"
FAST_FEED = {"MASTERDATA_HEARTBEAT_INTERVAL_S": "0.5", "MASTERDATA_FEED_POLL_INTERVAL_S": "0.5"}


def named(name: str) -> pb.ListLocationsRequest:
    return pb.ListLocationsRequest(filter=f'name = "{name}"')


async def test_a_create_is_retried_with_its_request_id_and_happens_once(
    server: ServerProcess, client: Client
) -> None:
    name = f"Unjha mandi {uuid.uuid4().hex[:8]}"
    async with (
        FlakyGrpcProxy(server.target, f"{SERVICE}/CreateLocation") as proxy,
        Client(proxy.target) as flaky,
    ):
        request = pb.CreateLocationRequest(location=pb.Location(name=name))
        created = (await flaky.locations.CreateLocation(request)).location
    assert len(proxy.attempts) == 2, "the client retried once"
    first, second = (pb.CreateLocationRequest.FromString(a) for a in proxy.attempts)
    assert first.request_id and first == second, "both attempts carry the same request_id"
    assert [item async for item in client.list_all("locations", named(name))] == [created]


async def test_the_sync_client_retries_the_same_way(server: ServerProcess) -> None:
    name = f"Sidhpur {uuid.uuid4().hex[:8]}"
    async with FlakyGrpcProxy(server.target, f"{SERVICE}/CreateLocation") as proxy:

        def create() -> list[str]:
            with SyncClient(proxy.target) as flaky:
                request = pb.CreateLocationRequest(location=pb.Location(name=name))
                flaky.locations.CreateLocation(request)
            with SyncClient(server.target) as direct:
                return [item.name for item in direct.list_all("locations", named(name))]

        assert await asyncio.to_thread(create) == [name]
    assert len(proxy.attempts) == 2


async def test_reads_are_retried(server: ServerProcess) -> None:
    async with (
        FlakyGrpcProxy(server.target, f"{SERVICE}/ListLocations", failures=2) as proxy,
        Client(proxy.target) as flaky,
    ):
        reply = await flaky.locations.ListLocations(named("nobody"))
    assert list(reply.locations) == [] and len(proxy.attempts) == 3


@pytest.mark.timeout(120)
async def test_subscribe_resumes_across_a_server_restart(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    feed: asyncio.Queue[events_pb2.Event] = asyncio.Queue()

    async def collect(client: Client) -> None:
        async for event in client.subscribe(aggregate_types=["location"]):
            feed.put_nowait(event)

    async def take(count: int) -> list[int]:
        async with asyncio.timeout(30):
            return [(await feed.get()).sequence for _ in range(count)]

    async def create(client: Client, name: str) -> None:
        request = pb.CreateLocationRequest(location=pb.Location(name=name))
        await client.locations.CreateLocation(request)

    first = await start_server(url, FAST_FEED)
    try:
        async with TcpProxy(first.port) as proxy, Client(proxy.target) as subscriber:
            async with Client(first.target) as writer:
                await create(writer, "before subscribing")
                task = asyncio.create_task(collect(subscriber))
                await create(writer, "live")
                before = await take(2)
            assert await first.terminate() == 0, first.describe()  # streams end UNAVAILABLE
            async with running_server(url, FAST_FEED) as second, Client(second.target) as writer:
                await create(writer, "while away")
                proxy.retarget(second.port)
                await create(writer, "after the restart")
                after = await take(2)
                await asyncio.sleep(0.5)  # nothing more may arrive
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await first.kill()
    assert before + after == [1, 2, 3, 4] and feed.empty()
