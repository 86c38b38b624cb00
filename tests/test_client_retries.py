"""Retries: a write whose first attempt ends UNAVAILABLE happens once.

The fault is real gRPC: `FlakyGrpcProxy` forwards the call to the live server and
then answers UNAVAILABLE, so the server has committed the write when the client
retries it.
"""

from __future__ import annotations

import asyncio

from client_support import FlakyGrpcProxy
from google.protobuf import field_mask_pb2
from support import events

from masterdata.client import Client, SyncClient
from masterdata.server.app import App
from masterdata.server.storage.engine import Database
from masterdata.v1 import location_pb2 as pb

SERVICE = "/masterdata.v1.LocationService"


async def test_create_with_request_id_happens_once_across_unavailable(
    app: App, db: Database
) -> None:
    async with (
        FlakyGrpcProxy(f"127.0.0.1:{app.port}", f"{SERVICE}/CreateLocation") as proxy,
        Client(proxy.target) as client,
    ):
        request = pb.CreateLocationRequest(location=pb.Location(name="Unjha mandi"))
        created = (await client.locations.CreateLocation(request)).location
        listed = [item async for item in client.list_all("locations")]
    assert len(proxy.attempts) == 2, "the client retried once"
    first, second = (pb.CreateLocationRequest.FromString(a) for a in proxy.attempts)
    assert first.request_id and first == second, "both attempts carry the same request_id"
    assert listed == [created]
    recorded = await events(db)
    assert [(e.event_type, e.request_id) for e in recorded] == [
        ("location.created", first.request_id)
    ]


async def test_sync_client_retries_the_same_way(app: App, db: Database) -> None:
    async with FlakyGrpcProxy(f"127.0.0.1:{app.port}", f"{SERVICE}/CreateLocation") as proxy:

        def create() -> pb.Location:
            with SyncClient(proxy.target) as client:
                request = pb.CreateLocationRequest(location=pb.Location(name="Sidhpur"))
                return client.locations.CreateLocation(request).location

        created = await asyncio.to_thread(create)
    assert len(proxy.attempts) == 2
    assert [e.aggregate_id.hex for e in await events(db)] == [created.id.replace("-", "")]


async def test_reads_are_retried(app: App, db: Database) -> None:
    async with (
        FlakyGrpcProxy(f"127.0.0.1:{app.port}", f"{SERVICE}/ListLocations", failures=2) as proxy,
        Client(proxy.target) as client,
    ):
        reply = await client.locations.ListLocations(pb.ListLocationsRequest())
    assert list(reply.locations) == [] and len(proxy.attempts) == 3


async def test_an_update_happens_once_across_unavailable(app: App, db: Database) -> None:
    """Every write now takes a request_id, updates included: a retry is answered with
    the first reply instead of being applied again."""
    async with Client(f"127.0.0.1:{app.port}") as direct:
        request = pb.CreateLocationRequest(location=pb.Location(name="Patan"))
        location = (await direct.locations.CreateLocation(request)).location
    async with (
        FlakyGrpcProxy(f"127.0.0.1:{app.port}", f"{SERVICE}/UpdateLocation") as proxy,
        Client(proxy.target) as client,
    ):
        update = pb.UpdateLocationRequest(
            location=pb.Location(id=location.id, city="Patan", etag=location.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["city"]),
        )
        updated = (await client.locations.UpdateLocation(update)).location
    assert len(proxy.attempts) == 2, "the client retried once"
    first, second = (pb.UpdateLocationRequest.FromString(a) for a in proxy.attempts)
    assert first.request_id and first == second, "both attempts carry the same request_id"
    assert updated.city == "Patan" and updated.etag == 'W/"2"', "applied once, not twice"
    recorded = [(e.event_type, e.request_id) for e in await events(db)][1:]
    assert recorded == [("location.updated", first.request_id)]
