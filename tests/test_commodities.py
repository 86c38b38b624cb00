"""Commodity through a real server and real stubs, on both backends."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2, struct_pb2
from grpc import aio
from support import event_count, events, expect_failure

from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
EXISTS = grpc.StatusCode.ALREADY_EXISTS


@pytest.fixture
def stub(channel: aio.Channel) -> commodity_pb2_grpc.CommodityServiceStub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


async def create(stub, **fields: object) -> pb.Commodity:
    fields.setdefault("name", "Cotton")
    fields.setdefault("category", "Fibre")
    reply = await stub.CreateCommodity(pb.CreateCommodityRequest(commodity=pb.Commodity(**fields)))
    return reply.commodity


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


def struct(**values: object) -> struct_pb2.Struct:
    document = struct_pb2.Struct()
    document.update(values)
    return document


async def test_create_get_round_trip_with_every_kind_of_field(stub, db: Database) -> None:
    created = await create(
        stub,
        hsn_code="52010010",
        hs_code_6digit="520100",
        gst_rate="5",
        description="Raw cotton, not carded",
        trade_unit="candy",
        rate_unit="qtl",
        standard_weight_per_unit="170",
        supported_currencies=["inr", "USD"],
        international_pricing_unit="lb",
        quality_standards=["ISO 8115"],
        major_producing_countries=["in", "US"],
        trading_hubs=["Rajkot"],
        traded_on_exchanges=["MCX", "ICE"],
        price_volatility=pb.PRICE_VOLATILITY_HIGH,
        phytosanitary_required=True,
        shelf_life_days=0,
        delivery_tolerance_pct="2",
        harvest_season=struct(India={"start": "October", "end": "March"}),
        standard_lot_size=struct(quantity="100", unit="BALE"),
    )
    assert (created.gst_rate, created.standard_weight_per_unit) == ("5.00", "170.000000")
    assert (created.base_unit, created.trade_unit, created.rate_unit) == ("KG", "CANDY", "QUINTAL")
    assert created.international_pricing_unit == "POUND" and created.default_currency == "INR"
    assert list(created.supported_currencies) == ["INR", "USD"]
    assert list(created.major_producing_countries) == ["IN", "US"]
    assert created.HasField("shelf_life_days") and created.is_active
    assert created.harvest_season["India"]["start"] == "October"
    fetched = (await stub.GetCommodity(pb.GetCommodityRequest(id=created.id))).commodity
    assert fetched == created
    [event] = await events(db)
    assert (event.event_type, event.aggregate_type, event.aggregate_version) == (
        "commodity.created",
        "commodity",
        1,
    )
    assert pb.Commodity.FromString(event.resource) == created


async def test_units_default_from_base_unit(stub) -> None:
    plain = await create(stub)
    assert (plain.base_unit, plain.trade_unit, plain.rate_unit) == ("KG", "KG", "KG")
    bales = await create(stub, name="Lint", trade_unit="BALE")
    assert (bales.trade_unit, bales.rate_unit) == ("BALE", "BALE")


EVERY_BAD_FIELD = pb.Commodity(
    hsn_code="52010",
    hs_code_6digit="52A100",
    gst_rate="100.5",
    base_unit="KG",
    trade_unit="METER",
    rate_unit="FURLONG",
    standard_weight_per_unit="0",
    default_currency="XYZ",
    supported_currencies=["USD", "ABC"],
    major_consuming_countries=["ZZ"],
    shelf_life_days=-1,
    delivery_tolerance_pct="101",
    weight_tolerance_pct="1.234",
)


async def test_every_violation_is_named_and_nothing_is_written(stub, db: Database) -> None:
    request = pb.CreateCommodityRequest(commodity=EVERY_BAD_FIELD)
    failure = await expect_failure(stub.CreateCommodity(request), INVALID)
    named = {f.name for f, _ in EVERY_BAD_FIELD.ListFields()} - {"base_unit"}
    assert failure.fields == {f"commodity.{name}" for name in {*named, "name", "category"}}
    assert await event_count(db) == 0


SINGLE_RULES = [
    ({"hsn_code": "52010010", "hs_code_6digit": "520200"}, "hs_code_6digit"),
    ({"hsn_code": "5201", "hs_code_6digit": "520100"}, "hs_code_6digit"),
    ({"base_unit": "KG", "trade_unit": "PIECE"}, "trade_unit"),
    ({"name": "x" * 201}, "name"),
    ({"gst_rate": "5.001"}, "gst_rate"),
    ({"gst_rate": "1000"}, "gst_rate"),
    ({"hsn_code": "5201001"}, "hsn_code"),
]


async def test_single_rules(stub) -> None:
    for fields, field in SINGLE_RULES:
        request = pb.CreateCommodityRequest(
            commodity=pb.Commodity(**{"name": "Cotton", "category": "Fibre", **fields})
        )
        failure = await expect_failure(stub.CreateCommodity(request), INVALID)
        assert failure.fields == {f"commodity.{field}"}, fields


async def test_count_trade_unit_needs_a_standard_weight(stub) -> None:
    eggs = await create(stub, name="Eggs", trade_unit="DOZEN", standard_weight_per_unit="0.06")
    assert eggs.trade_unit == "DOZEN"


async def test_name_is_unique_per_category_case_insensitively_among_live(stub) -> None:
    first = await create(stub, name="Cotton")
    await create(stub, name="Cotton", category="Waste")  # another category is fine
    failure = await expect_failure(create(stub, name="COTTON"), EXISTS)
    assert failure.reason == "DUPLICATE_NAME" and failure.fields == {"commodity.name"}
    await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=first.id))
    await create(stub, name="cotton")
    failure = await expect_failure(
        stub.UndeleteCommodity(pb.UndeleteCommodityRequest(id=first.id)), EXISTS
    )
    assert failure.reason == "DUPLICATE_NAME"


async def test_update_with_mask_and_etag(stub, db: Database) -> None:
    created = await create(stub, hsn_code="52010010")
    updated = (
        await stub.UpdateCommodity(
            pb.UpdateCommodityRequest(
                commodity=pb.Commodity(
                    id=created.id, gst_rate="12", description="ignored", etag=created.etag
                ),
                update_mask=mask("gst_rate", "create_time"),
            )
        )
    ).commodity
    assert (updated.gst_rate, updated.description) == ("12.00", "")
    assert updated.etag != created.etag
    stale = await expect_failure(
        stub.UpdateCommodity(
            pb.UpdateCommodityRequest(
                commodity=pb.Commodity(id=created.id, gst_rate="18", etag=created.etag),
                update_mask=mask("gst_rate"),
            )
        ),
        grpc.StatusCode.ABORTED,
    )
    assert stale.reason == "ETAG_MISMATCH"
    [_, event] = await events(db)
    assert event.event_type == "commodity.updated" and event.changed_fields == ["gst_rate"]


async def test_update_revalidates_the_whole_candidate(stub) -> None:
    created = await create(stub, hsn_code="52010010")
    # The stored hsn_code is checked against the new hs_code_6digit.
    mismatch = await expect_failure(
        stub.UpdateCommodity(
            pb.UpdateCommodityRequest(
                commodity=pb.Commodity(id=created.id, hs_code_6digit="100630"),
                update_mask=mask("hs_code_6digit"),
            )
        ),
        INVALID,
    )
    assert mismatch.reason == "HS_CODE_MISMATCH"
    unknown = await expect_failure(
        stub.UpdateCommodity(
            pb.UpdateCommodityRequest(
                commodity=pb.Commodity(id=created.id), update_mask=mask("colour")
            )
        ),
        INVALID,
    )
    assert unknown.fields == {"update_mask"}


async def test_clearing_units_restores_the_defaults(stub) -> None:
    created = await create(stub, base_unit="KG", trade_unit="QTL")
    updated = (
        await stub.UpdateCommodity(
            pb.UpdateCommodityRequest(
                commodity=pb.Commodity(id=created.id), update_mask=mask("trade_unit", "rate_unit")
            )
        )
    ).commodity
    assert (updated.trade_unit, updated.rate_unit) == ("KG", "KG")


async def test_malformed_id_is_invalid_argument(stub) -> None:
    for bad_id in ("", "nope", "' OR 1=1 --", "x" * 10_000):
        failure = await expect_failure(
            stub.GetCommodity(pb.GetCommodityRequest(id=bad_id)), INVALID
        )
        assert failure.fields == {"id"}


async def test_unknown_id_is_not_found(stub) -> None:
    missing = str(uuid.uuid4())
    for call in (
        stub.GetCommodity(pb.GetCommodityRequest(id=missing)),
        stub.DeleteCommodity(pb.DeleteCommodityRequest(id=missing)),
        stub.UndeleteCommodity(pb.UndeleteCommodityRequest(id=missing)),
        stub.UpdateCommodity(
            pb.UpdateCommodityRequest(commodity=pb.Commodity(id=missing, name="n"))
        ),
    ):
        failure = await expect_failure(call, NOT_FOUND)
        assert failure.reason == "COMMODITY_NOT_FOUND"


async def test_delete_undelete_lifecycle(stub, db: Database) -> None:
    created = await create(stub)
    deleted = (await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=created.id))).commodity
    assert deleted.HasField("delete_time")
    again = await expect_failure(
        stub.DeleteCommodity(pb.DeleteCommodityRequest(id=created.id)), NOT_FOUND
    )
    assert again.reason == "DELETED"
    assert not (await stub.ListCommodities(pb.ListCommoditiesRequest())).commodities
    listed = await stub.ListCommodities(pb.ListCommoditiesRequest(show_deleted=True))
    assert [c.id for c in listed.commodities] == [created.id]
    fetched = (await stub.GetCommodity(pb.GetCommodityRequest(id=created.id))).commodity
    assert fetched.HasField("delete_time")
    stale = await expect_failure(
        stub.UndeleteCommodity(pb.UndeleteCommodityRequest(id=created.id, etag=created.etag)),
        grpc.StatusCode.ABORTED,
    )
    assert stale.reason == "ETAG_MISMATCH"
    restored = (await stub.UndeleteCommodity(pb.UndeleteCommodityRequest(id=created.id))).commodity
    assert not restored.HasField("delete_time")
    live = await expect_failure(
        stub.UndeleteCommodity(pb.UndeleteCommodityRequest(id=created.id)), EXISTS
    )
    assert live.reason == "NOT_DELETED"
    kinds = [e.event_type for e in await events(db)]
    assert kinds == ["commodity.created", "commodity.deleted", "commodity.undeleted"]


async def test_create_is_idempotent_with_request_id(stub, db: Database) -> None:
    request_id = str(uuid.uuid4())
    request = pb.CreateCommodityRequest(
        commodity=pb.Commodity(name="Wheat", category="Cereals"), request_id=request_id
    )
    first = (await stub.CreateCommodity(request)).commodity
    second = (await stub.CreateCommodity(request)).commodity
    assert first == second and await event_count(db) == 1


async def test_batch_get_in_request_order(stub) -> None:
    a, b = await create(stub, name="A"), await create(stub, name="B")
    got = await stub.BatchGetCommodities(pb.BatchGetCommoditiesRequest(ids=[b.id, a.id, b.id]))
    assert [c.id for c in got.commodities] == [b.id, a.id, b.id]
    missing = str(uuid.uuid4())
    failure = await expect_failure(
        stub.BatchGetCommodities(pb.BatchGetCommoditiesRequest(ids=[a.id, missing])), NOT_FOUND
    )
    assert failure.metadata["ids"] == missing
    bad = await expect_failure(
        stub.BatchGetCommodities(pb.BatchGetCommoditiesRequest(ids=[a.id, "x"])), INVALID
    )
    assert bad.fields == {"ids[1]"}
    too_many = [str(uuid.uuid4()) for _ in range(1001)]
    await expect_failure(
        stub.BatchGetCommodities(pb.BatchGetCommoditiesRequest(ids=too_many)), INVALID
    )
    assert not (await stub.BatchGetCommodities(pb.BatchGetCommoditiesRequest())).commodities


@pytest.mark.parametrize(
    "document",
    [{"yield": float("nan")}, {"grades": [1.0, float("inf")]}, {"a": {"b": [[float("-inf")]]}}],
)
async def test_nan_or_infinity_in_a_struct_is_invalid_argument(
    stub, db: Database, document: dict[str, object]
) -> None:
    """JSON has no NaN or Infinity: refused by name (the fuzz net got INTERNAL)."""
    failure = await expect_failure(
        stub.CreateCommodity(
            pb.CreateCommodityRequest(
                commodity=pb.Commodity(
                    name="Cotton", category="Fibre", harvest_season=struct(**document)
                )
            )
        ),
        INVALID,
    )
    assert failure.fields == {"commodity.harvest_season"}
    assert await event_count(db) == 0


async def test_nan_in_a_struct_of_import_rows_is_a_row_error(stub, db: Database) -> None:
    rows = pb.CommodityRows(
        commodities=[
            pb.Commodity(name="Cotton", category="Fibre"),
            pb.Commodity(name="Jute", category="Fibre", standard_lot_size=struct(qty=float("nan"))),
        ]
    )
    replies = [r async for r in stub.ImportCommodities(pb.ImportCommoditiesRequest(rows=rows))]
    errors = [
        (r.row_error.row_number, r.row_error.field) for r in replies if r.HasField("row_error")
    ]
    assert errors == [(2, "standard_lot_size")]
    assert replies[-1].summary.created == 1
