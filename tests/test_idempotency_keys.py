"""Idempotency keys that cannot leak: scoped to (identity, method), bound to the request.

A key is the caller's request_id for one method; another caller's identical
request_id is another key, and the same key with a changed request is refused
(REQUEST_ID_REUSED). Every write takes one, and events carry only the client's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from bulk_support import collect, csv_file
from google.protobuf import field_mask_pb2
from grpc import aio
from processes import running_server
from security_support import bearer, serving, write_api_keys
from support import event_count, events, expect_failure

from masterdata.server.storage.engine import Database
from masterdata.v1 import (
    commodity_pb2,
    commodity_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    location_pb2,
    location_pb2_grpc,
)

INVALID = grpc.StatusCode.INVALID_ARGUMENT
Stub = location_pb2_grpc.LocationServiceStub


def create_request(name: str, request_id: str = "") -> location_pb2.CreateLocationRequest:
    return location_pb2.CreateLocationRequest(
        location=location_pb2.Location(name=name), request_id=request_id
    )


@pytest.fixture
def stub_channel_pair(channel: aio.Channel, db: Database) -> tuple[Stub, Database]:
    return Stub(channel), db


async def test_events_carry_only_the_clients_request_id(channel: aio.Channel, db: Database) -> None:
    stub = Stub(channel)
    correlation = (("x-request-id", "trace-me-7"),)
    await stub.CreateLocation(create_request("No key"), metadata=correlation)
    given = str(uuid.uuid4()).upper()
    await stub.CreateLocation(create_request("With key", given), metadata=correlation)
    feed = events_pb2_grpc.EventServiceStub(channel)
    listed = (await feed.ListEvents(events_pb2.ListEventsRequest())).events
    assert [e.request_id for e in listed] == ["", given.lower()]


async def test_a_key_is_per_caller(tmp_path: Path, database_url: str, db: Database) -> None:
    keys = {
        "erp-a": ("key-of-a-" + "x" * 24, ["masterdata.read", "masterdata.write"]),
        "erp-b": ("key-of-b-" + "y" * 24, ["masterdata.read", "masterdata.write"]),
    }
    path = write_api_keys(tmp_path / "keys.json", keys)
    async with (
        serving(database_url, api_keys_file=str(path)) as app,
        aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = Stub(channel)
        request_id = str(uuid.uuid4())
        as_a, as_b = bearer(keys["erp-a"][0]), bearer(keys["erp-b"][0])
        first_a = await stub.CreateLocation(create_request("A's yard", request_id), metadata=as_a)
        first_b = await stub.CreateLocation(create_request("B's yard", request_id), metadata=as_b)
        assert first_a.location.id != first_b.location.id
        assert (first_a.location.created_by, first_b.location.created_by) == ("erp-a", "erp-b")
        again_b = await stub.CreateLocation(create_request("B's yard", request_id), metadata=as_b)
        assert again_b == first_b, "B's retry gets B's reply, never A's"
        assert await event_count(db) == 2


async def test_a_key_is_per_method(stub_channel_pair: tuple[Stub, Database]) -> None:
    stub, db = stub_channel_pair
    request_id = str(uuid.uuid4())
    created = (await stub.CreateLocation(create_request("Deesa", request_id))).location
    deleted = await stub.DeleteLocation(
        location_pb2.DeleteLocationRequest(id=created.id, request_id=request_id)
    )
    assert deleted.location.HasField("delete_time")
    assert await event_count(db) == 2


async def test_every_write_replays_its_first_reply(
    stub_channel_pair: tuple[Stub, Database],
) -> None:
    stub, db = stub_channel_pair
    location = (await stub.CreateLocation(create_request("Unjha"))).location
    update = location_pb2.UpdateLocationRequest(
        location=location_pb2.Location(id=location.id, city="Unjha", etag=location.etag),
        update_mask=field_mask_pb2.FieldMask(paths=["city"]),
        request_id=str(uuid.uuid4()),
    )
    delete = location_pb2.DeleteLocationRequest(
        id=location.id, etag='W/"2"', request_id=str(uuid.uuid4())
    )
    undelete = location_pb2.UndeleteLocationRequest(
        id=location.id, etag='W/"3"', request_id=str(uuid.uuid4())
    )
    for call, request in (
        (stub.UpdateLocation, update),
        (stub.DeleteLocation, delete),
        (stub.UndeleteLocation, undelete),
    ):
        first = await call(request)
        # Applied again, each would fail: a stale etag, already deleted, not deleted.
        assert await call(request) == first
    assert [e.event_type for e in await events(db)] == [
        "location.created",
        "location.updated",
        "location.deleted",
        "location.undeleted",
    ]


async def test_a_changed_request_under_one_key_is_refused_and_changes_nothing(
    stub_channel_pair: tuple[Stub, Database],
) -> None:
    stub, db = stub_channel_pair
    one = (await stub.CreateLocation(create_request("One"))).location
    two = (await stub.CreateLocation(create_request("Two"))).location
    request_id = str(uuid.uuid4())
    await stub.DeleteLocation(location_pb2.DeleteLocationRequest(id=one.id, request_id=request_id))
    other = stub.DeleteLocation(
        location_pb2.DeleteLocationRequest(id=two.id, request_id=request_id)
    )
    failure = await expect_failure(other, INVALID)
    assert failure.reason == "REQUEST_ID_REUSED" and failure.fields == {"request_id"}
    assert not (
        await stub.GetLocation(location_pb2.GetLocationRequest(id=two.id))
    ).location.HasField("delete_time")
    assert await event_count(db) == 3


async def test_concurrent_twins_of_a_delete_act_once(
    stub_channel_pair: tuple[Stub, Database],
) -> None:
    stub, db = stub_channel_pair
    location = (await stub.CreateLocation(create_request("Twins"))).location
    request = location_pb2.DeleteLocationRequest(id=location.id, request_id=str(uuid.uuid4()))
    replies = await asyncio.gather(*(stub.DeleteLocation(request) for _ in range(20)))
    assert all(reply == replies[0] for reply in replies)
    assert await event_count(db) == 2


async def test_twins_across_two_processes_act_once(migrated_postgres_url: str) -> None:
    pools = {"MASTERDATA_POOL_SIZE": "3", "MASTERDATA_READ_POOL_SIZE": "2"}
    async with (
        running_server(migrated_postgres_url, pools) as a,
        running_server(migrated_postgres_url, pools) as b,
        aio.insecure_channel(a.target) as ca,
        aio.insecure_channel(b.target) as cb,
    ):
        stubs = [Stub(ca), Stub(cb)]
        for round_ in range(5):
            request = create_request(f"Yard {round_}", str(uuid.uuid4()))
            replies = await asyncio.gather(
                *(stubs[i % 2].CreateLocation(request) for i in range(10))
            )
            assert len({reply.location.id for reply in replies}) == 1
        listed = await stubs[0].ListLocations(location_pb2.ListLocationsRequest(page_size=100))
        assert len(listed.locations) == 5


async def test_a_request_id_that_is_no_uuid_is_refused_on_every_write(
    stub_channel_pair: tuple[Stub, Database],
) -> None:
    stub, db = stub_channel_pair
    location = (await stub.CreateLocation(create_request("Kalol"))).location
    bad = location_pb2.DeleteLocationRequest(id=location.id, request_id="retry-1")
    failure = await expect_failure(stub.DeleteLocation(bad), INVALID)
    assert failure.fields == {"request_id"}
    assert await event_count(db) == 1


async def test_an_upload_replays_its_summary_and_refuses_another_file_under_its_key(
    channel: aio.Channel, db: Database
) -> None:
    stub = commodity_pb2_grpc.CommodityServiceStub(channel)
    header = ["Name", "Category", "Base Unit"]
    cotton = csv_file(header, [["Cotton", "Fibre", "KG"]])
    jute = csv_file(header, [["Jute", "Fibre", "KG"]])
    options = commodity_pb2.ImportOptions(request_id=str(uuid.uuid4()))

    def upload(data: bytes) -> Iterator[commodity_pb2.UploadCommoditiesRequest]:
        yield commodity_pb2.UploadCommoditiesRequest(options=options)
        yield commodity_pb2.UploadCommoditiesRequest(csv_chunk=data)

    first = await collect(stub.UploadCommodities(upload(cotton)))
    again = await collect(stub.UploadCommodities(upload(cotton)))
    assert first.summary.created == 1 and again.summary == first.summary
    failure = await expect_failure(collect(stub.UploadCommodities(upload(jute))), INVALID)
    assert failure.reason == "REQUEST_ID_REUSED"
    assert await event_count(db) == 1
