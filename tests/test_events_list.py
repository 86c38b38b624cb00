"""ListEvents on both backends, and the events of every write RPC of every service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from feed_support import list_all
from google.protobuf import field_mask_pb2
from grpc import aio
from support import expect_failure

from masterdata.v1 import events_pb2, events_pb2_grpc, location_pb2_grpc
from masterdata.v1 import location_pb2 as loc

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def locations(channel: aio.Channel) -> location_pb2_grpc.LocationServiceStub:
    return location_pb2_grpc.LocationServiceStub(channel)


@pytest.fixture
def events(channel: aio.Channel) -> events_pb2_grpc.EventServiceStub:
    return events_pb2_grpc.EventServiceStub(channel)


async def create(stub: location_pb2_grpc.LocationServiceStub, name: str, **kw: str) -> loc.Location:
    reply = await stub.CreateLocation(
        loc.CreateLocationRequest(location=loc.Location(name=name), **kw)
    )
    return reply.location


async def lifecycle(stub: location_pb2_grpc.LocationServiceStub, name: str) -> list[loc.Location]:
    """Create, rename, delete and undelete one location; the four results in order."""
    request_id = str(uuid.uuid4())
    made = await create(stub, name, request_id=request_id)
    renamed = loc.Location(id=made.id, name=f"{name} (renamed)")
    mask = field_mask_pb2.FieldMask(paths=["name"])
    updated = (
        await stub.UpdateLocation(loc.UpdateLocationRequest(location=renamed, update_mask=mask))
    ).location
    deleted = (await stub.DeleteLocation(loc.DeleteLocationRequest(id=made.id))).location
    undeleted = (await stub.UndeleteLocation(loc.UndeleteLocationRequest(id=made.id))).location
    return [made, updated, deleted, undeleted]


async def test_events_carry_the_whole_change(channel, locations) -> None:
    started = datetime.now(UTC)
    results = await lifecycle(locations, "Kandla port")
    found = await list_all(channel)
    assert [e.sequence for e in found] == [1, 2, 3, 4]
    assert [e.event_type for e in found] == [
        "location.created",
        "location.updated",
        "location.deleted",
        "location.undeleted",
    ]
    assert [e.aggregate_version for e in found] == [1, 2, 3, 4]
    assert len({e.event_id for e in found}) == 4 and all(uuid.UUID(e.event_id) for e in found)
    for event, result in zip(found, results, strict=True):
        assert (event.aggregate_type, event.aggregate_id) == ("location", result.id)
        assert event.resource.type_url == "type.googleapis.com/masterdata.v1.Location"
        unpacked = loc.Location()
        assert event.resource.Unpack(unpacked) and unpacked == result
        assert event.actor == "anonymous"
        occurred = event.occur_time.ToDatetime(UTC)
        assert started - timedelta(seconds=5) <= occurred <= datetime.now(UTC)
    assert [list(e.changed_fields.paths) for e in found] == [[], ["name"], [], []]
    assert found[0].request_id and uuid.UUID(found[0].request_id)


async def test_filters(channel, locations) -> None:
    first = await lifecycle(locations, "Mundra")
    second = await lifecycle(locations, "Hazira")
    by_id = await list_all(channel, aggregate_id=second[0].id)
    assert [e.sequence for e in by_id] == [5, 6, 7, 8]
    assert {e.aggregate_id for e in await list_all(channel, aggregate_id=first[0].id)} == {
        first[0].id
    }
    assert len(await list_all(channel, aggregate_type="location")) == 8
    assert await list_all(channel, aggregate_type="commodity") == []
    deletions = await list_all(channel, event_types=["location.deleted", "location.undeleted"])
    assert [e.sequence for e in deletions] == [3, 4, 7, 8]
    assert [e.sequence for e in await list_all(channel, after_sequence=6)] == [7, 8]
    combined = await list_all(
        channel, aggregate_type="location", event_types=["location.created"], after_sequence=1
    )
    assert [e.sequence for e in combined] == [5]


async def test_paging_with_tokens(channel, events, locations) -> None:
    for i in range(7):
        await create(locations, f"yard {i}")
    pages, token = [], ""
    while True:
        reply = await events.ListEvents(events_pb2.ListEventsRequest(page_size=3, page_token=token))
        pages.append([e.sequence for e in reply.events])
        token = reply.next_page_token
        if not token:
            break
    assert pages == [[1, 2, 3], [4, 5, 6], [7]]
    first = await events.ListEvents(events_pb2.ListEventsRequest(page_size=3))
    foreign = events_pb2.ListEventsRequest(
        page_size=3, page_token=first.next_page_token, aggregate_type="commodity"
    )
    failure = await expect_failure(events.ListEvents(foreign), INVALID)
    assert failure.reason == "INVALID_PAGE_TOKEN"
    bad = events_pb2.ListEventsRequest(page_token="garbage")
    await expect_failure(events.ListEvents(bad), INVALID)


async def test_page_size_is_coerced(channel, events, locations) -> None:
    await create(locations, "one")
    reply = await events.ListEvents(events_pb2.ListEventsRequest(page_size=1_000_000))
    assert [e.sequence for e in reply.events] == [1] and not reply.next_page_token


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"aggregate_id": "nope"}, "aggregate_id"),
        ({"event_types": [f"t{i}" for i in range(101)]}, "event_types"),
        ({"after_sequence": -1}, "after_sequence"),
        ({"page_size": -1}, "page_size"),
    ],
)
async def test_bad_requests_are_invalid_argument(events, fields: dict, field: str) -> None:
    failure = await expect_failure(
        events.ListEvents(events_pb2.ListEventsRequest(**fields)), INVALID
    )
    assert field in failure.fields


async def test_every_bad_field_is_named_at_once(events) -> None:
    request = events_pb2.ListEventsRequest(
        aggregate_id="nope", after_sequence=-1, page_size=-1, page_token="garbage"
    )
    failure = await expect_failure(events.ListEvents(request), INVALID)
    assert failure.fields == {"aggregate_id", "after_sequence", "page_size", "page_token"}


async def test_a_write_that_fails_validation_emits_nothing(channel, locations) -> None:
    bad = loc.CreateLocationRequest(location=loc.Location(name="x", longitude=500))
    await expect_failure(locations.CreateLocation(bad), INVALID)
    made = await create(locations, "ok")
    stale = loc.Location(id=made.id, name="y", etag="stale")
    request = loc.UpdateLocationRequest(location=stale)
    await expect_failure(locations.UpdateLocation(request), grpc.StatusCode.ABORTED)
    assert [e.event_type for e in await list_all(channel)] == ["location.created"]
