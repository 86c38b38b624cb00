"""ListCommodities: filters and order_by on every whitelisted field, keyset pages."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio
from support import expect_failure

from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def stub(channel: aio.Channel) -> commodity_pb2_grpc.CommodityServiceStub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


async def create(stub, **fields: object) -> pb.Commodity:
    reply = await stub.CreateCommodity(pb.CreateCommodityRequest(commodity=pb.Commodity(**fields)))
    return reply.commodity


async def seed_list(stub) -> list[pb.Commodity]:
    rows = [
        ("Cotton", "Fibre", "52010010", "5", "BALE", pb.PRICE_VOLATILITY_HIGH, True),
        ("Jute", "Fibre", "53031000", "0", "KG", pb.PRICE_VOLATILITY_LOW, True),
        ("Wheat", "Cereals", "10019910", "0", "QTL", pb.PRICE_VOLATILITY_MEDIUM, True),
        ("Rice", "Cereals", "10063010", "5", "MT", pb.PRICE_VOLATILITY_MEDIUM, False),
        ("Chana", "Pulses", "07132000", "0", "QTL", pb.PRICE_VOLATILITY_UNSPECIFIED, False),
    ]
    made = []
    for name, category, hsn, gst, trade_unit, volatility, seasonal in rows:
        made.append(
            await create(
                stub,
                name=name,
                category=category,
                hsn_code=hsn,
                gst_rate=gst,
                trade_unit=trade_unit,
                price_volatility=volatility,
                seasonal_commodity=seasonal,
                is_active=name != "Jute",
                default_currency="USD" if name == "Rice" else "",
            )
        )
    return made


FILTERS = [
        ('category = "Fibre"', {"Cotton", "Jute"}),
        ("gst_rate > 0", {"Cotton", "Rice"}),
        ('hsn_code : "100199"', {"Wheat"}),
        ('hs_code_6digit = ""', {"Cotton", "Jute", "Wheat", "Rice", "Chana"}),
        ("trade_unit = QUINTAL OR base_unit != KG", {"Wheat", "Chana"}),
        ("price_volatility = MEDIUM", {"Wheat", "Rice"}),
        ("seasonal_commodity = true AND is_active = true", {"Cotton", "Wheat"}),
        ('default_currency = "USD"', {"Rice"}),
        ('name : "HEA"', {"Wheat"}),
        ('create_time > "2000-01-01T00:00:00Z" AND update_time > "2000-01-01T00:00:00Z"',
         {"Cotton", "Jute", "Wheat", "Rice", "Chana"}),
]  # fmt: skip
ORDERS = [
    ("name", ["Chana", "Cotton", "Jute", "Rice", "Wheat"]),
    ("category desc, name desc", ["Chana", "Jute", "Cotton", "Wheat", "Rice"]),
    ("hsn_code desc", ["Jute", "Cotton", "Rice", "Wheat", "Chana"]),
    ("gst_rate desc, name desc", ["Rice", "Cotton", "Wheat", "Jute", "Chana"]),
    ("create_time", ["Cotton", "Jute", "Wheat", "Rice", "Chana"]),
    ("update_time desc", ["Chana", "Rice", "Wheat", "Jute", "Cotton"]),
    # Booleans (false < true), with pages that end on either value.
    ("seasonal_commodity, name", ["Chana", "Rice", "Cotton", "Jute", "Wheat"]),
    (
        "is_active desc, seasonal_commodity desc, name desc",
        ["Wheat", "Cotton", "Rice", "Chana", "Jute"],
    ),
]


async def test_list_filters_on_every_whitelisted_field(stub) -> None:
    await seed_list(stub)
    for text, expected in FILTERS:
        reply = await stub.ListCommodities(pb.ListCommoditiesRequest(filter=text))
        assert {c.name for c in reply.commodities} == expected, text


async def test_list_order_by_with_keyset_pages(stub) -> None:
    await seed_list(stub)
    for order_by, names in ORDERS:
        assert await traverse(stub, order_by) == names, order_by
    first = await stub.ListCommodities(pb.ListCommoditiesRequest(order_by="name", page_size=2))
    reused = await expect_failure(
        stub.ListCommodities(
            pb.ListCommoditiesRequest(order_by="name desc", page_token=first.next_page_token)
        ),
        INVALID,
    )
    assert reused.fields == {"page_token"}


async def traverse(stub, order_by: str) -> list[str]:
    seen, token = [], ""
    while True:
        page = await stub.ListCommodities(
            pb.ListCommoditiesRequest(order_by=order_by, page_size=2, page_token=token)
        )
        seen.extend(c.name for c in page.commodities)
        token = page.next_page_token
        if not token:
            return seen


BAD_LISTS = [
    ({"filter": "description = 'x'"}, "filter"),
    ({"filter": "gst_rate = 'five'"}, "filter"),
    ({"filter": "price_volatility = EXTREME"}, "filter"),
    ({"order_by": "description"}, "order_by"),
    ({"page_size": -1}, "page_size"),
    ({"page_token": "garbage"}, "page_token"),
]


async def test_list_rejects_what_is_not_whitelisted(stub) -> None:
    for fields, field in BAD_LISTS:
        failure = await expect_failure(
            stub.ListCommodities(pb.ListCommoditiesRequest(**fields)), INVALID
        )
        assert failure.fields == {field}, fields
