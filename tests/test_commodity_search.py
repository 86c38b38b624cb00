"""SearchCommodities: matching, ranking and paging are the same on both backends."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio
from support import expect_failure

from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT
CATALOGUE = [
    # name, category, description, hsn_code
    ("Cotton", "Fibre", "Raw cotton", "52010010"),
    ("Cotton Seed", "Oilseeds", "", "12072000"),
    ("cottonseed oil", "Edible Oils", "", "15122100"),
    ("Organic Cotton", "Fibre", "", "52010020"),
    ("Jute", "Fibre", "Not cotton, but a bast fibre", "53031000"),
    ("Wheat", "Cereals", "", "10019910"),
    ("Kapas", "COTTON (unginned)", "", ""),
    ("100% Wool", "Fibre", "", "51011100"),
    ("Silk_Waste", "Fibre", "", "50030000"),
]


@pytest.fixture
def stub(channel: aio.Channel) -> commodity_pb2_grpc.CommodityServiceStub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


async def load(stub) -> dict[str, str]:
    ids = {}
    for name, category, description, hsn in CATALOGUE:
        message = pb.Commodity(name=name, category=category, description=description, hsn_code=hsn)
        reply = await stub.CreateCommodity(pb.CreateCommodityRequest(commodity=message))
        ids[name] = reply.commodity.id
    return ids


async def search(stub, query: str, page_size: int = 0) -> list[str]:
    names, token = [], ""
    while True:
        page = await stub.SearchCommodities(
            pb.SearchCommoditiesRequest(query=query, page_size=page_size, page_token=token)
        )
        names.extend(c.name for c in page.commodities)
        token = page.next_page_token
        if not token:
            return names
        assert len(page.commodities) == page_size


async def test_ranking_exact_then_prefix_then_other_matches(stub) -> None:
    await load(stub)
    expected = [
        "Cotton",  # exact name (case-insensitive)
        "Cotton Seed",  # name prefix, by name
        "cottonseed oil",
        "Jute",  # other matches, by name: description
        "Kapas",  # category
        "Organic Cotton",  # name contains
    ]
    assert await search(stub, "  COTTON ") == expected
    for page_size in (1, 2, 4):
        assert await search(stub, "cotton", page_size) == expected


async def test_hsn_prefix_and_literal_wildcards(stub) -> None:
    await load(stub)
    assert await search(stub, "5201") == ["Cotton", "Organic Cotton"]
    assert await search(stub, "0010") == []  # hsn_code matches by prefix only
    assert await search(stub, "%") == ["100% Wool"]
    assert await search(stub, "_") == ["Silk_Waste"]
    assert await search(stub, "n_s") == []  # "_" is no wildcard: "Cotton Seed" stays out
    assert await search(stub, "fibre") == [
        "100% Wool",
        "Cotton",
        "Jute",
        "Organic Cotton",
        "Silk_Waste",
    ]


async def test_deleted_commodities_are_not_found(stub) -> None:
    ids = await load(stub)
    await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=ids["Cotton"]))
    assert "Cotton" not in await search(stub, "cotton")


async def test_paging_is_keyset_and_tokens_belong_to_their_query(stub) -> None:
    ids = await load(stub)
    first = await stub.SearchCommodities(pb.SearchCommoditiesRequest(query="cotton", page_size=2))
    assert [c.name for c in first.commodities] == ["Cotton", "Cotton Seed"]
    # A row removed before the next page does not shift the rest (no OFFSET).
    await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=ids["Cotton"]))
    second = await stub.SearchCommodities(
        pb.SearchCommoditiesRequest(query="cotton", page_size=2, page_token=first.next_page_token)
    )
    assert [c.name for c in second.commodities] == ["cottonseed oil", "Jute"]
    foreign = await expect_failure(
        stub.SearchCommodities(
            pb.SearchCommoditiesRequest(query="wheat", page_token=first.next_page_token)
        ),
        INVALID,
    )
    assert foreign.fields == {"page_token"}


async def test_bad_queries(stub) -> None:
    for query in ("", "   ", "x" * 201):
        failure = await expect_failure(
            stub.SearchCommodities(pb.SearchCommoditiesRequest(query=query)), INVALID
        )
        assert failure.fields == {"query"}
    await expect_failure(
        stub.SearchCommodities(pb.SearchCommoditiesRequest(query="x", page_size=-1)), INVALID
    )
