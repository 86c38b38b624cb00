"""The SDK against a live server on both backends: CRUD, errors, request_id, deadlines.

SyncClient calls block, and the session server runs on this event loop, so they
run in a worker thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio
from support import events

from masterdata.client import (
    Client,
    FieldViolation,
    InvalidArgumentError,
    MasterdataError,
    NotFoundError,
    SyncClient,
    Timeouts,
)
from masterdata.server.app import App
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2, location_pb2

LOCATIONS = location_pb2.DESCRIPTOR.services_by_name["LocationService"].full_name


@pytest.fixture
async def client(app: App, db: Database) -> AsyncIterator[Client]:
    async with Client(f"127.0.0.1:{app.port}") as client:
        yield client


async def test_crud_through_the_async_client(client: Client, db: Database) -> None:
    locations = client.locations
    created = (
        await locations.CreateLocation(
            location_pb2.CreateLocationRequest(
                location=location_pb2.Location(name="Kadi ginning factory", state_code="GJ")
            )
        )
    ).location
    assert created.region == location_pb2.REGION_WEST
    got = (await locations.GetLocation(location_pb2.GetLocationRequest(id=created.id))).location
    assert got == created
    updated = (
        await locations.UpdateLocation(
            location_pb2.UpdateLocationRequest(
                location=location_pb2.Location(id=created.id, city="Kadi", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["city"]),
            )
        )
    ).location
    assert updated.city == "Kadi" and updated.etag != created.etag
    listed = [item async for item in client.list_all("locations", page_size=1)]
    assert [item.id for item in listed] == [created.id]
    await locations.DeleteLocation(location_pb2.DeleteLocationRequest(id=created.id))
    assert [item async for item in client.list_all("locations")] == []
    with pytest.raises(NotFoundError) as caught:
        await locations.DeleteLocation(location_pb2.DeleteLocationRequest(id=created.id))
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert caught.value.request_id  # the server's x-request-id, for its log


async def test_crud_through_the_sync_client(app: App, db: Database) -> None:
    def scenario() -> tuple[commodity_pb2.Commodity, list[str]]:
        with SyncClient(f"127.0.0.1:{app.port}") as client:
            commodities = client.commodities
            created = commodities.CreateCommodity(
                commodity_pb2.CreateCommodityRequest(
                    commodity=commodity_pb2.Commodity(name="Cotton", category="Fibre")
                )
            ).commodity
            got = commodities.GetCommodity(commodity_pb2.GetCommodityRequest(id=created.id))
            assert got.commodity == created
            commodities.UpdateCommodity(
                commodity_pb2.UpdateCommodityRequest(
                    commodity=commodity_pb2.Commodity(id=created.id, gst_rate="5.00"),
                    update_mask=field_mask_pb2.FieldMask(paths=["gst_rate"]),
                )
            )
            names = [c.gst_rate for c in client.list_all("commodities")]
            commodities.DeleteCommodity(commodity_pb2.DeleteCommodityRequest(id=created.id))
            try:
                commodities.GetCommodity(commodity_pb2.GetCommodityRequest(id=str(uuid.uuid4())))
            except NotFoundError as error:
                assert error.code == grpc.StatusCode.NOT_FOUND
            else:
                raise AssertionError("GetCommodity of an unknown id succeeded")
            return created, names

    created, rates = await asyncio.to_thread(scenario)
    assert rates == ["5.00"]
    types = [e.event_type for e in await events(db, aggregate_id=uuid.UUID(created.id))]
    assert types == ["commodity.created", "commodity.updated", "commodity.deleted"]


async def test_a_bad_create_raises_masterdata_error_with_every_violation(client: Client) -> None:
    request = location_pb2.CreateLocationRequest(
        location=location_pb2.Location(latitude=91, timezone="Mars/Olympus")
    )
    with pytest.raises(MasterdataError) as caught:
        await client.locations.CreateLocation(request)
    error = caught.value
    assert isinstance(error, InvalidArgumentError)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason and error.domain == "masterdata.v1"
    assert {"location.name", "location.latitude", "location.timezone"} <= error.fields
    assert all(isinstance(v, FieldViolation) and v.description for v in error.violations)
    text = str(error)
    assert text.startswith("INVALID_ARGUMENT: ")
    assert "location.name" in text and "location.timezone" in text
    assert not isinstance(error, grpc.RpcError)


async def test_duplicate_reports_already_exists_with_reason(client: Client) -> None:
    request = commodity_pb2.CreateCommodityRequest(
        commodity=commodity_pb2.Commodity(name="Wheat", category="Grain")
    )
    await client.commodities.CreateCommodity(request)
    with pytest.raises(MasterdataError) as caught:
        await client.commodities.CreateCommodity(request)
    assert caught.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert caught.value.reason == "DUPLICATE_NAME", str(caught.value)


async def test_request_id_is_filled_once_and_the_callers_message_left_alone(
    client: Client, db: Database
) -> None:
    request = location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Yard"))
    first = (await client.locations.CreateLocation(request)).location
    second = (await client.locations.CreateLocation(request)).location
    assert request.request_id == ""  # a reused message makes a new create, not a duplicate
    assert first.id != second.id
    recorded = [e.request_id for e in await events(db)]
    assert len(recorded) == 2 and all(uuid.UUID(r) for r in recorded)
    assert recorded[0] != recorded[1]
    given = str(uuid.uuid4())
    request.request_id = given
    third = (await client.locations.CreateLocation(request)).location
    again = (await client.locations.CreateLocation(request)).location
    assert third == again  # the server dedupes by the caller's request_id
    assert [e.request_id for e in await events(db)][2:] == [given]


async def test_default_deadline_applies_to_calls_without_a_timeout() -> None:
    """A read without a timeout gets the client's default deadline; one with its own
    timeout keeps it. The server is a real grpc.aio server whose ListLocations takes
    half a second, so the outcome does not depend on how fast the machine is."""

    async def slow_list(_request: bytes, _context: aio.ServicerContext) -> bytes:
        await asyncio.sleep(0.5)
        return b""

    server = aio.server()
    handler = grpc.unary_unary_rpc_method_handler(slow_list)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(LOCATIONS, {"ListLocations": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with Client(f"127.0.0.1:{port}", default_timeouts=Timeouts(read=0.1)) as client:
            with pytest.raises(MasterdataError) as caught:
                await client.locations.ListLocations(location_pb2.ListLocationsRequest())
            assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            reply = await client.locations.ListLocations(
                location_pb2.ListLocationsRequest(), timeout=5
            )
            assert list(reply.locations) == []
    finally:
        await server.stop(0)
