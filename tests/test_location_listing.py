"""ListLocations: filters, order_by and keyset page tokens, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from typing import NamedTuple

import grpc
import pytest
from grpc import aio
from support import expect_failure

from masterdata.server.app import App
from masterdata.server.families.locations import LOCATION
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.listing import ListRequest
from masterdata.server.resources.standard import Resources
from masterdata.v1 import location_pb2 as pb
from masterdata.v1 import location_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT
STATES = ["MH", "GJ", "TN", "KA", "DL", "WB", "AS", "MP"]


@pytest.fixture
def stub(channel: aio.Channel) -> location_pb2_grpc.LocationServiceStub:
    return location_pb2_grpc.LocationServiceStub(channel)


async def create_many(stub, count: int) -> list[pb.Location]:
    """`count` locations with repeating cities and states, so sort keys tie often."""
    semaphore = asyncio.Semaphore(50)

    async def one(i: int) -> pb.Location:
        location = pb.Location(
            name=f"yard {i % 700:04d}",
            city=f"city {i % 13}",
            state_code=STATES[i % len(STATES)],
            is_active=i % 5 != 0,
            pincode=f"{360000 + i % 97}",
        )
        async with semaphore:
            reply = await stub.CreateLocation(pb.CreateLocationRequest(location=location))
        return reply.location

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def traverse(stub, **query: object) -> list[pb.Location]:
    seen: list[pb.Location] = []
    token = ""
    while True:
        page = await stub.ListLocations(pb.ListLocationsRequest(page_token=token, **query))
        seen.extend(page.locations)
        token = page.next_page_token
        if not token:
            return seen
        assert len(page.locations) == query.get("page_size", 50)


def sort_key(location: pb.Location) -> tuple:
    # name desc, then city asc, then the id tiebreaker (direction of the last term: asc)
    return (tuple(-ord(c) for c in location.name), location.city, location.id)


async def test_2500_locations_paged_under_filter_and_order(stub) -> None:
    everything = await create_many(stub, 2500)
    expected = sorted(
        (x for x in everything if x.region == pb.REGION_WEST and x.is_active), key=sort_key
    )
    assert len(expected) > 500
    seen = await traverse(
        stub,
        page_size=100,
        filter="region = WEST AND is_active = true",
        order_by="name desc, city",
    )
    assert [x.id for x in seen] == [x.id for x in expected]


async def test_default_order_is_creation_order_and_every_row_once(stub) -> None:
    created = []
    for i in range(7):
        created.append(
            (
                await stub.CreateLocation(
                    pb.CreateLocationRequest(location=pb.Location(name=f"n{i}"))
                )
            ).location
        )
    seen = await traverse(stub, page_size=3)
    assert [x.id for x in seen] == [x.id for x in created]


async def test_filters(stub) -> None:
    await create_many(stub, 40)
    cases = {
        'state_code = "MH"': lambda x: x.state_code == "MH",
        "region = REGION_SOUTH OR state_code = 'DL'": lambda x: (
            x.region == pb.REGION_SOUTH or x.state_code == "DL"
        ),
        'NOT is_active = true AND city : "CITY 1"': lambda x: (
            not x.is_active and "city 1" in x.city
        ),
        '(city = "city 3" OR city = "city 4") AND -(state_code = "GJ")': lambda x: (
            x.city in {"city 3", "city 4"} and x.state_code != "GJ"
        ),
        'name >= "yard 0020"': lambda x: x.name >= "yard 0020",
        'create_time > "2000-01-01T00:00:00Z"': lambda x: True,
    }
    everything = await traverse(stub, page_size=1000)
    for text, predicate in cases.items():
        got = {x.id for x in await traverse(stub, filter=text, page_size=7)}
        assert got == {x.id for x in everything if predicate(x)}, text


async def test_every_bad_part_of_a_list_request_is_named_at_once(stub) -> None:
    """A bad filter, order_by and page_token together: one INVALID_ARGUMENT naming all
    three, not the first found."""
    request = pb.ListLocationsRequest(
        filter="name = ", order_by="colour", page_token="garbage", page_size=-1
    )
    failure = await expect_failure(stub.ListLocations(request), INVALID)
    assert failure.fields == {"filter", "order_by", "page_token", "page_size"}
    request = pb.ListLocationsRequest(filter="name = ", page_token="garbage")
    failure = await expect_failure(stub.ListLocations(request), INVALID)
    assert failure.fields == {"filter", "page_token"}


@pytest.mark.parametrize(
    ("text", "position"),
    [("name = ", 7), ("name == 'x'", 6), ("(name = 'x'", 11), ("name = 'x' AND", 14)],
)
async def test_bad_filter_names_the_position(stub, text: str, position: int) -> None:
    failure = await expect_failure(
        stub.ListLocations(pb.ListLocationsRequest(filter=text)), INVALID
    )
    assert failure.fields == {"filter"}
    assert f"position {position}" in failure.violations["filter"]


@pytest.mark.parametrize(
    "text",
    [
        "colour = 'red'",  # not a filterable field
        "address = 'x'",  # a field, but not whitelisted
        "is_active = 'yes'",
        "create_time > 'yesterday'",
        "region = MARS",
        "'; DROP TABLE locations; --",
        "name = 'x'; DELETE FROM locations",
        "(" * 5000 + "name = 'x'" + ")" * 5000,
        "name = '" + "x" * 10_000 + "'",
    ],
)
async def test_hostile_filters_are_invalid_argument(stub, text: str) -> None:
    await create_many(stub, 3)
    failure = await expect_failure(
        stub.ListLocations(pb.ListLocationsRequest(filter=text)), INVALID
    )
    assert failure.fields == {"filter"}
    assert len((await stub.ListLocations(pb.ListLocationsRequest())).locations) == 3


async def test_quotes_and_wildcards_in_values_match_literally(stub) -> None:
    for name in ["O'Brien & Sons", "100% cotton", "under_score", "back\\slash"]:
        await stub.CreateLocation(pb.CreateLocationRequest(location=pb.Location(name=name)))
    await stub.CreateLocation(pb.CreateLocationRequest(location=pb.Location(name="100 cotton")))
    got = await traverse(stub, filter='name = "O\'Brien & Sons"')
    assert [x.name for x in got] == ["O'Brien & Sons"]
    got = await traverse(stub, filter='name : "0%"')
    assert [x.name for x in got] == ["100% cotton"]
    got = await traverse(stub, filter='name : "r_s"')
    assert [x.name for x in got] == ["under_score"]
    got = await traverse(stub, filter='name = "back\\\\slash"')
    assert [x.name for x in got] == ["back\\slash"]


@pytest.mark.parametrize("order_by", ["colour", "name sideways", "name, name", "address"])
async def test_bad_order_by(stub, order_by: str) -> None:
    failure = await expect_failure(
        stub.ListLocations(pb.ListLocationsRequest(order_by=order_by)), INVALID
    )
    assert failure.fields == {"order_by"}


async def test_page_token_is_bound_to_its_query(stub) -> None:
    await create_many(stub, 12)
    first = await stub.ListLocations(
        pb.ListLocationsRequest(page_size=5, filter="is_active = true")
    )
    assert first.next_page_token
    for other in (
        pb.ListLocationsRequest(page_token=first.next_page_token, filter="is_active = false"),
        pb.ListLocationsRequest(
            page_token=first.next_page_token, filter="is_active = true", order_by="name"
        ),
        pb.ListLocationsRequest(
            page_token=first.next_page_token, filter="is_active = true", show_deleted=True
        ),
        pb.ListLocationsRequest(page_token="garbage", filter="is_active = true"),
        pb.ListLocationsRequest(
            page_token=first.next_page_token[:-3] + "AAA", filter="is_active = true"
        ),
    ):
        failure = await expect_failure(stub.ListLocations(other), INVALID)
        assert failure.fields == {"page_token"}
    # the same query with another page size is fine
    await stub.ListLocations(
        pb.ListLocationsRequest(
            page_size=2, page_token=first.next_page_token, filter="is_active = true"
        )
    )


async def test_page_size_defaults_and_limits(stub) -> None:
    await create_many(stub, 60)
    assert len((await stub.ListLocations(pb.ListLocationsRequest())).locations) == 50
    assert len((await stub.ListLocations(pb.ListLocationsRequest(page_size=5000))).locations) == 60
    failure = await expect_failure(
        stub.ListLocations(pb.ListLocationsRequest(page_size=-1)), INVALID
    )
    assert failure.fields == {"page_size"}


async def test_a_page_shows_its_rows_as_they_are_when_it_is_read(stub, app: App) -> None:
    """List reads the page's keys (id, revision) first and renders each revision once:
    a changed row is read again; a row whose key was read before it changed comes as
    it is now, and one removed meanwhile is left out."""
    first, second = await create_many(stub, 2)
    ours = {first.id, second.id}
    service = Resources(app.runtime, LOCATION)

    async def names() -> list[str]:
        page = await service.list(ListRequest(page_size=1000, order_by="name"), Caller())
        return [m.name for m in page.items if m.id in ours]

    assert await names() == [first.name, second.name]
    renamed = pb.Location(id=first.id, etag=first.etag, name="renamed yard")
    request = pb.UpdateLocationRequest(location=renamed, update_mask={"paths": ["name"]})
    await stub.UpdateLocation(request)
    assert await names() == ["renamed yard", second.name]
    unrendered = Resources(app.runtime, LOCATION)
    keys = [Key(uuid.UUID(first.id), 1), Key(uuid.uuid4(), 1), Key(uuid.UUID(second.id), 1)]
    shown = [item.message for item in await unrendered.render_keyed(keys, Caller())]
    assert [(m.id, m.name) for m in shown] == [(first.id, "renamed yard"), (second.id, second.name)]


class Key(NamedTuple):
    """What list_page returns for a row (the sort keys aside)."""

    id: uuid.UUID
    revision: int


async def test_a_repeated_first_page_sees_new_rows_and_keeps_to_its_filter(stub) -> None:
    """First pages are one statement per (filter, order, page size), built once: asked
    again, it reads the table as it is now; another filter gets its own statement."""

    async def cities(text: str) -> list[str]:
        page = await stub.ListLocations(pb.ListLocationsRequest(filter=text, page_size=10))
        return [location.city for location in page.locations]

    assert await cities('city = "Unjha"') == []
    for city in ("Unjha", "Palanpur"):
        location = pb.Location(name=f"yard in {city}", city=city)
        await stub.CreateLocation(pb.CreateLocationRequest(location=location))
    assert await cities('city = "Unjha"') == ["Unjha"]
    assert await cities('city = "Palanpur"') == ["Palanpur"]
