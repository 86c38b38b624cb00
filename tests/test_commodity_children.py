"""Varieties, quality parameters and commission structures of a commodity; the cascade."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio
from support import event_count, events, expect_failure

from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.trade_terms import TradeTypeRow
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
EXISTS, PRECONDITION = grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture
def stub(channel: aio.Channel) -> commodity_pb2_grpc.CommodityServiceStub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


async def commodity(stub, name: str = "Cotton") -> pb.Commodity:
    request = pb.CreateCommodityRequest(commodity=pb.Commodity(name=name, category="Fibre"))
    return (await stub.CreateCommodity(request)).commodity


async def variety(stub, commodity_id: str, **fields: object) -> pb.Variety:
    fields.setdefault("name", "Shankar-6")
    message = pb.Variety(commodity_id=commodity_id, **fields)
    return (await stub.CreateVariety(pb.CreateVarietyRequest(variety=message))).variety


async def parameter(stub, commodity_id: str, **fields: object) -> pb.QualityParameter:
    fields.setdefault("parameter_name", "Staple length")
    message = pb.QualityParameter(commodity_id=commodity_id, **fields)
    request = pb.CreateQualityParameterRequest(quality_parameter=message)
    return (await stub.CreateQualityParameter(request)).quality_parameter


async def commission(stub, commodity_id: str, **fields: object) -> pb.CommissionStructure:
    fields.setdefault("name", "Brokerage")
    fields.setdefault("rate", "1")
    message = pb.CommissionStructure(commodity_id=commodity_id, **fields)
    request = pb.CreateCommissionStructureRequest(commission_structure=message)
    return (await stub.CreateCommissionStructure(request)).commission_structure


async def trade_type(db: Database, *, deleted: bool = False) -> str:
    """A trade type row, written directly: TradeTermsService is another issue's."""
    now = datetime.now(UTC)
    row = TradeTypeRow(
        id=uuid.uuid4(),
        name=f"Export {uuid.uuid4().hex[:8]}",
        create_time=now,
        update_time=now,
        delete_time=now if deleted else None,
    )
    async with db.write_session() as session, session.begin():
        session.add(row)
    return str(row.id)


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def test_variety_lifecycle_and_uniqueness_per_commodity(stub, db: Database) -> None:
    cotton, wheat = await commodity(stub), await commodity(stub, "Wheat")
    first = await variety(stub, cotton.id, code="S6", is_standard=True)
    assert first.is_active and first.commodity_id == cotton.id
    fetched = (await stub.GetVariety(pb.GetVarietyRequest(id=first.id))).variety
    assert fetched == first
    name_clash = await expect_failure(variety(stub, cotton.id, name="SHANKAR-6"), EXISTS)
    assert name_clash.reason == "DUPLICATE_NAME" and name_clash.fields == {"variety.name"}
    code_clash = await expect_failure(variety(stub, cotton.id, name="Other", code="S6"), EXISTS)
    assert code_clash.fields == {"variety.code"}
    await variety(stub, wheat.id, code="S6")  # another commodity is fine
    await variety(stub, cotton.id, name="No code A")
    await variety(stub, cotton.id, name="No code B")  # empty codes never clash
    updated = (
        await stub.UpdateVariety(
            pb.UpdateVarietyRequest(
                variety=pb.Variety(id=first.id, description="long staple", etag=first.etag),
                update_mask=mask("description"),
            )
        )
    ).variety
    assert updated.description == "long staple"
    moved = await expect_failure(
        stub.UpdateVariety(
            pb.UpdateVarietyRequest(
                variety=pb.Variety(id=first.id, commodity_id=wheat.id),
                update_mask=mask("commodity_id"),
            )
        ),
        INVALID,
    )
    assert moved.fields == {"variety.commodity_id"}
    await stub.DeleteVariety(pb.DeleteVarietyRequest(id=first.id))
    await expect_failure(stub.DeleteVariety(pb.DeleteVarietyRequest(id=first.id)), NOT_FOUND)
    await stub.UndeleteVariety(pb.UndeleteVarietyRequest(id=first.id))
    kinds = [e.event_type for e in await events(db, aggregate_id=uuid.UUID(first.id))]
    assert kinds == ["variety.created", "variety.updated", "variety.deleted", "variety.undeleted"]


async def test_children_need_a_live_commodity(stub) -> None:
    missing = await expect_failure(variety(stub, str(uuid.uuid4())), NOT_FOUND)
    assert missing.reason == "COMMODITY_NOT_FOUND"
    malformed = await expect_failure(variety(stub, "nope"), INVALID)
    assert malformed.fields == {"variety.commodity_id"}
    absent = await expect_failure(variety(stub, ""), INVALID)
    assert absent.fields == {"variety.commodity_id"}
    cotton = await commodity(stub)
    child = await variety(stub, cotton.id)
    await stub.DeleteVariety(pb.DeleteVarietyRequest(id=child.id))
    await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=cotton.id))
    for call in (
        variety(stub, cotton.id, name="Other"),
        parameter(stub, cotton.id),
        commission(stub, cotton.id),
        stub.UndeleteVariety(pb.UndeleteVarietyRequest(id=child.id)),
    ):
        failure = await expect_failure(call, PRECONDITION)
        assert failure.reason == "PARENT_DELETED"


async def test_child_lists_are_per_commodity_filtered_and_ordered(stub) -> None:
    cotton, wheat = await commodity(stub), await commodity(stub, "Wheat")
    for name, code, standard in [("B", "2", True), ("A", "3", False), ("C", "1", True)]:
        await variety(stub, cotton.id, name=name, code=code, is_standard=standard)
    await variety(stub, wheat.id, name="Lok-1")
    missing = await expect_failure(stub.ListVarieties(pb.ListVarietiesRequest()), INVALID)
    assert missing.fields == {"commodity_id"}

    async def names(**query: object) -> list[str]:
        reply = await stub.ListVarieties(pb.ListVarietiesRequest(commodity_id=cotton.id, **query))
        return [v.name for v in reply.varieties]

    assert await names() == ["B", "A", "C"]  # creation order by default
    assert await names(order_by="name desc") == ["C", "B", "A"]
    assert await names(order_by="code") == ["C", "B", "A"]
    assert await names(filter="is_standard = true", order_by="name") == ["B", "C"]
    assert await names(filter='code >= "2" AND is_active = true', order_by="update_time") == [
        "B",
        "A",
    ]
    assert await names(filter='name : "a" OR create_time < "2000-01-01T00:00:00Z"') == ["A"]
    await expect_failure(
        stub.ListVarieties(pb.ListVarietiesRequest(commodity_id=cotton.id, filter="x = 1")),
        INVALID,
    )


async def test_quality_parameter_rules_filters_and_order(stub) -> None:
    cotton = await commodity(stub)
    failure = await expect_failure(
        parameter(stub, cotton.id, parameter_name="", min_value="5", max_value="3"), INVALID
    )
    assert failure.fields == {"quality_parameter.parameter_name", "quality_parameter.min_value"}
    out = await expect_failure(
        parameter(stub, cotton.id, min_value="3", max_value="5", default_value="6"), INVALID
    )
    assert out.fields == {"quality_parameter.default_value"}
    length = await parameter(
        stub, cotton.id, unit="mm", min_value="26", max_value="32", default_value="29",
        is_mandatory=True, display_order=2,
    )  # fmt: skip
    assert length.parameter_type == pb.PARAMETER_TYPE_NUMERIC
    assert (length.min_value, length.max_value) == ("26.000000", "32.000000")
    await parameter(
        stub, cotton.id, parameter_name="Colour", parameter_type=pb.PARAMETER_TYPE_TEXT,
        default_value="white", display_order=1,
    )  # fmt: skip
    await parameter(stub, cotton.id, parameter_name="Trash", unit="%", display_order=3)
    clash = await expect_failure(parameter(stub, cotton.id, parameter_name="colour"), EXISTS)
    assert clash.reason == "DUPLICATE_PARAMETER_NAME"

    async def names(**query: object) -> list[str]:
        reply = await stub.ListQualityParameters(
            pb.ListQualityParametersRequest(commodity_id=cotton.id, **query)
        )
        return [p.parameter_name for p in reply.quality_parameters]

    assert await names(order_by="display_order") == ["Colour", "Staple length", "Trash"]
    assert await names(order_by="parameter_name desc") == ["Trash", "Staple length", "Colour"]
    assert await names(filter="parameter_type = TEXT") == ["Colour"]
    assert await names(filter='is_mandatory = false AND unit = "%"') == ["Trash"]
    assert await names(filter="display_order > 1", order_by="display_order desc") == [
        "Trash",
        "Staple length",
    ]


async def test_commission_rules_and_references_in_one_bad_request(stub, db: Database) -> None:
    cotton = await commodity(stub)
    gone = await trade_type(db, deleted=True)
    failure = await expect_failure(
        commission(
            stub,
            cotton.id,
            rate="101",
            min_amount="10",
            max_amount="5",
            currency="XYZ",
            trade_type_id=str(uuid.uuid4()),
            rate_per_country={"ZZ": "1", "BD": "abc"},
            tiers=[pb.CommissionTier(min_quantity="10", rate="1")],
        ),
        INVALID,
    )
    assert failure.fields == {
        f"commission_structure.{name}"
        for name in (
            "rate",
            "min_amount",
            "currency",
            "trade_type_id",
            "rate_per_country[ZZ]",
            "rate_per_country[BD]",
            "tiers",
        )
    }
    deleted = await expect_failure(commission(stub, cotton.id, trade_type_id=gone), INVALID)
    assert deleted.fields == {"commission_structure.trade_type_id"} and deleted.reason == "DELETED"
    assert await event_count(db) == 1


async def test_commission_tiers_ascend_and_exist_when_tiered(stub) -> None:
    cotton = await commodity(stub)
    tiered = await expect_failure(
        commission(
            stub,
            cotton.id,
            commission_type=pb.COMMISSION_TYPE_TIERED,
            rate="",
            tiers=[
                pb.CommissionTier(min_quantity="100", rate="0.5"),
                pb.CommissionTier(min_quantity="100", rate="0.25"),
            ],
        ),
        INVALID,
    )
    assert tiered.fields == {"commission_structure.tiers[1].min_quantity"}
    empty = await expect_failure(
        commission(stub, cotton.id, commission_type=pb.COMMISSION_TYPE_TIERED, rate=""), INVALID
    )
    assert empty.fields == {"commission_structure.tiers"}


async def test_commission_defaults_tiers_and_filters(stub, db: Database) -> None:
    cotton = await commodity(stub)
    export = await trade_type(db)
    brokerage = await commission(
        stub, cotton.id, trade_type_id=export, currency="usd", rate_per_country={"bd": "1.25"}
    )
    assert (brokerage.commission_type, brokerage.applies_to) == (
        pb.COMMISSION_TYPE_PERCENTAGE,
        pb.APPLIES_TO_BOTH,
    )
    assert brokerage.currency == "USD" and dict(brokerage.rate_per_country) == {"BD": "1.25"}
    assert brokerage.rate == "1.0000"
    tiers = [
        pb.CommissionTier(min_quantity="0", rate="1"),
        pb.CommissionTier(min_quantity="100", rate="0.5"),
    ]
    tiered = await commission(
        stub, cotton.id, name="Volume", commission_type=pb.COMMISSION_TYPE_TIERED, rate="",
        applies_to=pb.APPLIES_TO_SELLER, tiers=tiers,
    )  # fmt: skip
    assert list(tiered.tiers) == tiers
    fetched = await stub.GetCommissionStructure(pb.GetCommissionStructureRequest(id=tiered.id))
    assert fetched.commission_structure == tiered
    fixed = pb.COMMISSION_TYPE_FIXED
    await commission(stub, cotton.id, name="Fixed", commission_type=fixed, rate="250")

    async def names(text: str) -> list[str]:
        reply = await stub.ListCommissionStructures(
            pb.ListCommissionStructuresRequest(commodity_id=cotton.id, order_by="name", filter=text)
        )
        return [c.name for c in reply.commission_structures]

    assert await names("applies_to = SELLER") == ["Volume"]
    assert await names("commission_type != PERCENTAGE") == ["Fixed", "Volume"]
    assert await names(f'trade_type_id = "{export}"') == ["Brokerage"]
    assert await names('currency = "USD" AND is_active = true') == ["Brokerage"]


async def test_a_trade_type_deleted_later_does_not_block_updates(stub, db: Database) -> None:
    cotton = await commodity(stub)
    export = await trade_type(db)
    brokerage = await commission(stub, cotton.id, trade_type_id=export)
    async with db.write_session() as session, session.begin():
        row = await session.get(TradeTypeRow, uuid.UUID(export))
        assert row is not None
        row.delete_time = datetime.now(UTC)
    renamed = await stub.UpdateCommissionStructure(
        pb.UpdateCommissionStructureRequest(
            commission_structure=pb.CommissionStructure(id=brokerage.id, name="Broker fee"),
            update_mask=mask("name"),
        )
    )
    assert renamed.commission_structure.trade_type_id == export
    switched = await expect_failure(
        stub.UpdateCommissionStructure(
            pb.UpdateCommissionStructureRequest(
                commission_structure=pb.CommissionStructure(
                    id=brokerage.id, trade_type_id=str(uuid.uuid4())
                ),
                update_mask=mask("trade_type_id"),
            )
        ),
        INVALID,
    )
    assert switched.reason == "NOT_FOUND"
    await stub.DeleteCommissionStructure(pb.DeleteCommissionStructureRequest(id=brokerage.id))
    await stub.UndeleteCommissionStructure(pb.UndeleteCommissionStructureRequest(id=brokerage.id))


async def family(stub) -> tuple[pb.Commodity, list, pb.Variety, pb.Variety]:
    """Cotton with one child of each kind, a variety deleted before, and Wheat's variety."""
    cotton, wheat = await commodity(stub), await commodity(stub, "Wheat")
    earlier = await variety(stub, cotton.id, name="Deleted before")
    await stub.DeleteVariety(pb.DeleteVarietyRequest(id=earlier.id))
    children = [
        await variety(stub, cotton.id, code="S-6", is_standard=True),
        await parameter(stub, cotton.id, min_value="26.5", max_value="32", display_order=2),
        await commission(stub, cotton.id, rate="1.25", min_amount="100", currency="INR"),
    ]
    return cotton, children, earlier, await variety(stub, wheat.id)


async def test_force_delete_cascades_with_events(stub, db: Database) -> None:
    cotton, children, _, other = await family(stub)
    refused = await expect_failure(
        stub.DeleteCommodity(pb.DeleteCommodityRequest(id=cotton.id)), PRECONDITION
    )
    assert refused.reason == "HAS_CHILDREN"
    counts = {"variety": "1", "quality_parameter": "1", "commission_structure": "1"}
    assert refused.metadata == counts
    before = await event_count(db)
    await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=cotton.id, force=True))
    cascade = (await events(db))[before:]
    assert sorted(e.event_type for e in cascade) == [
        "commission_structure.deleted",
        "commodity.deleted",
        "quality_parameter.deleted",
        "variety.deleted",
    ]
    assert len({e.request_id for e in cascade}) == 1  # one transaction, one call
    assert {e.aggregate_id for e in cascade} == {uuid.UUID(x.id) for x in [*children, cotton]}
    varieties = await stub.ListVarieties(
        pb.ListVarietiesRequest(commodity_id=cotton.id, show_deleted=True)
    )
    assert all(v.HasField("delete_time") for v in varieties.varieties)
    untouched = await stub.GetVariety(pb.GetVarietyRequest(id=other.id))
    assert not untouched.variety.HasField("delete_time")


async def test_undelete_restores_what_the_cascade_deleted(stub, db: Database) -> None:
    cotton, children, earlier, _ = await family(stub)
    await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=cotton.id, force=True))
    before = await event_count(db)
    await stub.UndeleteCommodity(pb.UndeleteCommodityRequest(id=cotton.id))
    restored = (await events(db))[before:]
    assert sorted(e.event_type for e in restored) == [
        "commission_structure.undeleted",
        "commodity.undeleted",
        "quality_parameter.undeleted",
        "variety.undeleted",
    ]
    live = await stub.ListVarieties(pb.ListVarietiesRequest(commodity_id=cotton.id))
    assert [v.id for v in live.varieties] == [children[0].id]  # not "Deleted before"
    params = await stub.ListQualityParameters(
        pb.ListQualityParametersRequest(commodity_id=cotton.id)
    )
    assert [p.id for p in params.quality_parameters] == [children[1].id]
    still = await stub.GetVariety(pb.GetVarietyRequest(id=earlier.id))
    assert still.variety.HasField("delete_time")
    # Each event carries the child as a later Get reads it (the children are read
    # before the write and rendered after it: every type and value must survive).
    reads = {
        "variety": (stub.GetVariety, pb.GetVarietyRequest, "variety", pb.Variety),
        "quality_parameter": (
            stub.GetQualityParameter,
            pb.GetQualityParameterRequest,
            "quality_parameter",
            pb.QualityParameter,
        ),
        "commission_structure": (
            stub.GetCommissionStructure,
            pb.GetCommissionStructureRequest,
            "commission_structure",
            pb.CommissionStructure,
        ),
    }
    for event in restored:
        if event.aggregate_type in reads:
            get, request, field, message = reads[event.aggregate_type]
            now = getattr(await get(request(id=str(event.aggregate_id))), field)
            assert message.FromString(event.resource) == now, event.aggregate_type


async def test_undelete_clash_rolls_back_the_restored_children(stub) -> None:
    cotton = await commodity(stub)
    await variety(stub, cotton.id)
    await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=cotton.id, force=True))
    await commodity(stub)  # a new live "Cotton" takes the name
    failure = await expect_failure(
        stub.UndeleteCommodity(pb.UndeleteCommodityRequest(id=cotton.id)), EXISTS
    )
    assert failure.reason == "DUPLICATE_NAME"
    get = await stub.GetCommodity(pb.GetCommodityRequest(id=cotton.id))
    assert get.commodity.HasField("delete_time")
    listed = await stub.ListVarieties(pb.ListVarietiesRequest(commodity_id=cotton.id))
    assert not listed.varieties
