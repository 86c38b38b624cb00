"""LocationService through a real server and real stubs, on both backends."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio
from support import event_count, events, expect_failure

from masterdata.server.storage.engine import Database
from masterdata.v1 import location_pb2 as pb
from masterdata.v1 import location_pb2_grpc

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND


@pytest.fixture
def stub(channel: aio.Channel) -> location_pb2_grpc.LocationServiceStub:
    return location_pb2_grpc.LocationServiceStub(channel)


async def create(stub: location_pb2_grpc.LocationServiceStub, **fields: object) -> pb.Location:
    fields.setdefault("name", "Rajkot Market Yard")
    reply = await stub.CreateLocation(pb.CreateLocationRequest(location=pb.Location(**fields)))
    return reply.location


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def test_create_get_round_trip(stub, db: Database) -> None:
    created = await create(
        stub,
        name="Rajkot Market Yard",
        state_code="gj",
        latitude=22.30,
        longitude=70.80,
        timezone="Asia/Kolkata",
        pincode="360001",
        country="India",
        place_id="ChIJ-rajkot",
    )
    assert uuid.UUID(created.id)
    assert created.state_code == "GJ" and created.region == pb.REGION_WEST
    assert created.is_active and created.created_by == "anonymous" and created.etag
    fetched = (await stub.GetLocation(pb.GetLocationRequest(id=created.id))).location
    assert fetched == created
    [event] = await events(db)
    assert (event.event_type, event.aggregate_version, event.aggregate_id) == (
        "location.created",
        1,
        uuid.UUID(created.id),
    )
    assert pb.Location.FromString(event.resource) == created


@pytest.mark.parametrize(
    ("state_code", "region"),
    [
        ("MH", pb.REGION_WEST),
        ("ka", pb.REGION_SOUTH),
        ("DL", pb.REGION_NORTH),
        ("CG", pb.REGION_CENTRAL),
        ("OD", pb.REGION_EAST),
        ("AS", pb.REGION_NORTHEAST),
        ("XX", pb.REGION_UNKNOWN),
        ("", pb.REGION_UNKNOWN),
    ],
)
async def test_region_is_derived_from_state_code(stub, state_code: str, region: int) -> None:
    assert (await create(stub, state_code=state_code)).region == region


async def test_zero_coordinates_are_kept(stub) -> None:
    created = await create(stub, latitude=0.0, longitude=0.0)
    assert created.HasField("latitude") and created.latitude == 0.0


async def test_every_bad_field_is_named_and_nothing_is_written(stub, db: Database) -> None:
    failure = await expect_failure(
        stub.CreateLocation(
            pb.CreateLocationRequest(
                location=pb.Location(
                    latitude=91,
                    longitude=-181,
                    timezone="Mars/Olympus",
                    pincode="012345",
                    country="India",
                    state_code="M1",
                    place_id="x" * 201,
                )
            )
        ),
        INVALID,
    )
    assert failure.fields == {
        "location.name",
        "location.latitude",
        "location.longitude",
        "location.timezone",
        "location.pincode",
        "location.state_code",
        "location.place_id",
    }
    assert await event_count(db) == 0
    assert not (await stub.ListLocations(pb.ListLocationsRequest(show_deleted=True))).locations


@pytest.mark.parametrize("bad_id", ["", "nope", "123", "' OR 1=1 --", "x" * 10_000])
async def test_malformed_id_is_invalid_argument(stub, bad_id: str) -> None:
    failure = await expect_failure(stub.GetLocation(pb.GetLocationRequest(id=bad_id)), INVALID)
    assert failure.fields == {"id"}


async def test_unknown_id_is_not_found(stub) -> None:
    missing = str(uuid.uuid4())
    for call in (
        stub.GetLocation(pb.GetLocationRequest(id=missing)),
        stub.DeleteLocation(pb.DeleteLocationRequest(id=missing)),
        stub.UndeleteLocation(pb.UndeleteLocationRequest(id=missing)),
        stub.UpdateLocation(pb.UpdateLocationRequest(location=pb.Location(id=missing, name="n"))),
    ):
        failure = await expect_failure(call, NOT_FOUND)
        assert failure.reason == "LOCATION_NOT_FOUND"


async def test_duplicate_place_id_among_live_rows(stub, db: Database) -> None:
    first = await create(stub, place_id="ChIJ-1")
    failure = await expect_failure(
        stub.CreateLocation(
            pb.CreateLocationRequest(location=pb.Location(name="b", place_id="ChIJ-1"))
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert failure.fields == {"location.place_id"} and failure.reason == "DUPLICATE_PLACE_ID"
    await stub.DeleteLocation(pb.DeleteLocationRequest(id=first.id))
    second = await create(stub, place_id="ChIJ-1")  # the deleted one no longer counts
    await expect_failure(
        stub.UndeleteLocation(pb.UndeleteLocationRequest(id=first.id)),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert second.id != first.id
    assert await event_count(db) == 3
    await create(stub, place_id="")  # unset place ids never clash
    await create(stub, place_id="")


async def test_update_with_mask_and_etag(stub, db: Database) -> None:
    created = await create(stub, city="Rajkot", state_code="GJ")
    updated = (
        await stub.UpdateLocation(
            pb.UpdateLocationRequest(
                location=pb.Location(
                    id=created.id, city="Surat", state_code="TN", etag=created.etag
                ),
                update_mask=mask("city"),
            )
        )
    ).location
    assert (updated.city, updated.state_code, updated.region) == ("Surat", "GJ", pb.REGION_WEST)
    assert updated.etag != created.etag and updated.create_time == created.create_time
    stale = await expect_failure(
        stub.UpdateLocation(
            pb.UpdateLocationRequest(
                location=pb.Location(id=created.id, city="Ahmedabad", etag=created.etag),
                update_mask=mask("city"),
            )
        ),
        grpc.StatusCode.ABORTED,
    )
    assert stale.reason == "ETAG_MISMATCH"
    [_, event] = await events(db)
    assert event.event_type == "location.updated" and event.changed_fields == ["city"]
    assert event.aggregate_version == 2


async def test_empty_mask_updates_populated_fields_and_ignores_output_only(stub, db) -> None:
    created = await create(stub, city="Rajkot")
    updated = (
        await stub.UpdateLocation(
            pb.UpdateLocationRequest(
                location=pb.Location(
                    id=created.id,
                    state_code="MH",
                    region=pb.REGION_EAST,
                    created_by="mallory",
                )
            )
        )
    ).location
    assert (updated.name, updated.city, updated.region) == (created.name, "Rajkot", pb.REGION_WEST)
    assert updated.created_by == "anonymous"
    [_, event] = await events(db)
    assert sorted(event.changed_fields) == ["region", "state_code"]


async def test_unknown_mask_path_is_invalid_and_changes_nothing(stub, db) -> None:
    created = await create(stub)
    failure = await expect_failure(
        stub.UpdateLocation(
            pb.UpdateLocationRequest(
                location=pb.Location(id=created.id, name="new"),
                update_mask=mask("name", "colour"),
            )
        ),
        INVALID,
    )
    assert failure.fields == {"update_mask"} and "colour" in failure.violations["update_mask"]
    assert (await stub.GetLocation(pb.GetLocationRequest(id=created.id))).location == created
    assert await event_count(db) == 1


async def test_noop_update_records_no_event(stub, db) -> None:
    created = await create(stub, city="Rajkot")
    same = (
        await stub.UpdateLocation(
            pb.UpdateLocationRequest(
                location=pb.Location(id=created.id, city="Rajkot"), update_mask=mask("city")
            )
        )
    ).location
    assert same == created
    assert await event_count(db) == 1


async def test_clearing_a_field_through_the_mask(stub) -> None:
    created = await create(stub, city="Rajkot", latitude=22.3)
    cleared = (
        await stub.UpdateLocation(
            pb.UpdateLocationRequest(
                location=pb.Location(id=created.id),
                update_mask=mask("city", "latitude"),
            )
        )
    ).location
    assert cleared.city == "" and not cleared.HasField("latitude")


async def test_soft_delete_show_deleted_and_undelete(stub, db: Database) -> None:
    kept, gone = await create(stub, name="kept"), await create(stub, name="gone")
    deleted = (
        await stub.DeleteLocation(pb.DeleteLocationRequest(id=gone.id, etag=gone.etag))
    ).location
    assert deleted.HasField("delete_time")
    live = (await stub.ListLocations(pb.ListLocationsRequest())).locations
    assert [loc.id for loc in live] == [kept.id]
    every = (await stub.ListLocations(pb.ListLocationsRequest(show_deleted=True))).locations
    assert {loc.id for loc in every} == {kept.id, gone.id}
    assert (await stub.GetLocation(pb.GetLocationRequest(id=gone.id))).location.HasField(
        "delete_time"
    )
    await expect_failure(stub.DeleteLocation(pb.DeleteLocationRequest(id=gone.id)), NOT_FOUND)
    await expect_failure(
        stub.UpdateLocation(pb.UpdateLocationRequest(location=pb.Location(id=gone.id, name="x"))),
        NOT_FOUND,
    )
    restored = (await stub.UndeleteLocation(pb.UndeleteLocationRequest(id=gone.id))).location
    assert not restored.HasField("delete_time")
    await expect_failure(
        stub.UndeleteLocation(pb.UndeleteLocationRequest(id=gone.id)),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    await expect_failure(
        stub.DeleteLocation(pb.DeleteLocationRequest(id=kept.id, etag='W/"9"')),
        grpc.StatusCode.ABORTED,
    )
    kinds = [
        (e.event_type, e.aggregate_version)
        for e in await events(db, aggregate_id=uuid.UUID(gone.id))
    ]
    assert kinds == [("location.created", 1), ("location.deleted", 2), ("location.undeleted", 3)]


async def test_request_id_retry_returns_the_first_result(stub, db: Database) -> None:
    request_id = str(uuid.uuid4())
    request = pb.CreateLocationRequest(location=pb.Location(name="Kadi"), request_id=request_id)
    first = (await stub.CreateLocation(request)).location
    again = (await stub.CreateLocation(request)).location
    assert again == first
    # A changed body under the same key is refused, not answered with the first result.
    request.location.name = "changed on retry"
    changed = await expect_failure(stub.CreateLocation(request), INVALID)
    assert changed.reason == "REQUEST_ID_REUSED" and changed.fields == {"request_id"}
    assert len((await stub.ListLocations(pb.ListLocationsRequest())).locations) == 1
    assert await event_count(db) == 1
    bad = await expect_failure(
        stub.CreateLocation(
            pb.CreateLocationRequest(location=pb.Location(name="x"), request_id="not-a-uuid")
        ),
        INVALID,
    )
    assert bad.fields == {"request_id"}


async def test_concurrent_retries_of_one_request_id_create_once(stub, db: Database) -> None:
    request = pb.CreateLocationRequest(
        location=pb.Location(name="Once"), request_id=str(uuid.uuid4())
    )
    replies = await asyncio.gather(*(stub.CreateLocation(request) for _ in range(20)))
    assert len({r.location.id for r in replies}) == 1
    assert await event_count(db) == 1


async def test_concurrent_updates_with_one_etag_let_exactly_one_win(stub, db: Database) -> None:
    created = await create(stub)

    async def attempt(i: int) -> bool:
        try:
            await stub.UpdateLocation(
                pb.UpdateLocationRequest(
                    location=pb.Location(id=created.id, city=f"city-{i}", etag=created.etag),
                    update_mask=mask("city"),
                )
            )
            return True
        except aio.AioRpcError as error:
            assert error.code() == grpc.StatusCode.ABORTED
            return False

    outcomes = await asyncio.gather(*(attempt(i) for i in range(30)))
    assert outcomes.count(True) == 1
    assert await event_count(db) == 2


async def test_many_concurrent_creates(stub, db: Database) -> None:
    created = await asyncio.gather(*(create(stub, name=f"yard {i}") for i in range(200)))
    assert len({loc.id for loc in created}) == 200
    [*_, last] = await events(db)
    assert last.sequence == 200 and await event_count(db) == 200


async def test_batch_get_in_request_order(stub) -> None:
    a, b = await create(stub, name="a"), await create(stub, name="b")
    reply = await stub.BatchGetLocations(pb.BatchGetLocationsRequest(ids=[b.id, a.id, b.id]))
    assert [loc.id for loc in reply.locations] == [b.id, a.id, b.id]
    missing = await expect_failure(
        stub.BatchGetLocations(pb.BatchGetLocationsRequest(ids=[a.id, str(uuid.uuid4())])),
        NOT_FOUND,
    )
    assert missing.reason == "LOCATION_NOT_FOUND"
    bad = await expect_failure(
        stub.BatchGetLocations(pb.BatchGetLocationsRequest(ids=[a.id, "x"])), INVALID
    )
    assert bad.fields == {"ids[1]"}
