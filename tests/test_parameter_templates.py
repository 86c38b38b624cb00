"""ParameterTemplate, SuggestParameters and ApplyParameterTemplates, on both backends."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc import aio
from support import event_count, events, expect_failure

from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def stub(channel: aio.Channel) -> commodity_pb2_grpc.CommodityServiceStub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


async def template(stub, name: str, category: str = "Fibre", **fields: object):
    message = pb.ParameterTemplate(category=category, parameter_name=name, **fields)
    request = pb.CreateParameterTemplateRequest(parameter_template=message)
    return (await stub.CreateParameterTemplate(request)).parameter_template


async def cotton(stub) -> pb.Commodity:
    request = pb.CreateCommodityRequest(commodity=pb.Commodity(name="Cotton", category="Fibre"))
    return (await stub.CreateCommodity(request)).commodity


def apply(stub, commodity_id: str, *template_ids: str, request_id: str = ""):
    return stub.ApplyParameterTemplates(
        pb.ApplyParameterTemplatesRequest(
            commodity_id=commodity_id, template_ids=list(template_ids), request_id=request_id
        )
    )


async def test_template_crud_rules_and_listing(stub) -> None:
    made = await template(stub, "Micronaire", min_value="3.5", max_value="4.9", usage_count=99)
    assert made.usage_count == 0 and made.parameter_type == pb.PARAMETER_TYPE_NUMERIC
    clash = await expect_failure(template(stub, "MICRONAIRE"), grpc.StatusCode.ALREADY_EXISTS)
    assert clash.reason == "DUPLICATE_PARAMETER_NAME"
    await template(stub, "Micronaire", category="Waste")  # another category
    bad = await expect_failure(
        template(stub, "", category="", min_value="2", max_value="1"), INVALID
    )
    assert bad.fields == {
        "parameter_template.category",
        "parameter_template.parameter_name",
        "parameter_template.min_value",
    }
    await template(stub, "Trash", source="CAI", parameter_type=pb.PARAMETER_TYPE_RANGE)
    reply = await stub.ListParameterTemplates(
        pb.ListParameterTemplatesRequest(filter='category = "Fibre"', order_by="parameter_name")
    )
    assert [t.parameter_name for t in reply.parameter_templates] == ["Micronaire", "Trash"]
    for text, expected in [
        ('source = "CAI" AND parameter_type = RANGE', ["Trash"]),
        ("usage_count = 0 AND is_mandatory = false", ["Micronaire", "Trash", "Micronaire"]),
    ]:
        listed = await stub.ListParameterTemplates(
            pb.ListParameterTemplatesRequest(filter=text, order_by="category, parameter_name")
        )
        assert [t.parameter_name for t in listed.parameter_templates] == expected, text
    await stub.DeleteParameterTemplate(pb.DeleteParameterTemplateRequest(id=made.id))
    await stub.UndeleteParameterTemplate(pb.UndeleteParameterTemplateRequest(id=made.id))
    fetched = await stub.GetParameterTemplate(pb.GetParameterTemplateRequest(id=made.id))
    assert fetched.parameter_template.etag == 'W/"3"'


async def test_suggest_ranks_by_usage_then_order_then_name(stub) -> None:
    commodity = await cotton(stub)
    strength = await template(stub, "Strength", display_order=1)
    staple = await template(stub, "Staple length", category="fibre", display_order=2)
    await template(stub, "Moisture", display_order=2)
    gone = await template(stub, "Colour")
    await template(stub, "Oil content", category="Oilseeds")
    await stub.DeleteParameterTemplate(pb.DeleteParameterTemplateRequest(id=gone.id))
    await apply(stub, commodity.id, staple.id)

    async def suggested() -> list[str]:
        reply = await stub.SuggestParameters(pb.SuggestParametersRequest(commodity_id=commodity.id))
        return [t.parameter_name for t in reply.parameter_templates]

    assert await suggested() == ["Staple length", "Strength", "Moisture"]
    assert strength.usage_count == 0
    await expect_failure(
        stub.SuggestParameters(pb.SuggestParametersRequest(commodity_id=str(uuid.uuid4()))),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_apply_creates_bumps_and_is_not_repeated(stub, db: Database) -> None:
    commodity = await cotton(stub)
    staple = await template(stub, "Staple length", unit="mm", min_value="26", max_value="32")
    mic = await template(stub, "Micronaire", is_mandatory=True, display_order=2)
    before = await event_count(db)
    created = (await apply(stub, commodity.id, mic.id, staple.id)).quality_parameters
    assert [p.parameter_name for p in created] == ["Micronaire", "Staple length"]
    assert created[0].is_mandatory and created[0].display_order == 2
    assert (created[1].unit, created[1].min_value) == ("mm", "26.000000")
    assert all(p.commodity_id == commodity.id for p in created)
    written = (await events(db))[before:]
    assert sorted(e.event_type for e in written) == [
        "parameter_template.updated",
        "parameter_template.updated",
        "quality_parameter.created",
        "quality_parameter.created",
    ]
    bumped = [e for e in written if e.event_type == "parameter_template.updated"]
    assert all(e.changed_fields == ["usage_count"] for e in bumped)
    # Applying again (plus a new template) creates only what is missing.
    trash = await template(stub, "Trash")
    again = (await apply(stub, commodity.id, staple.id, trash.id)).quality_parameters
    assert again[0] == created[1] and again[1].parameter_name == "Trash"
    listed = await stub.ListParameterTemplates(
        pb.ListParameterTemplatesRequest(order_by="parameter_name")
    )
    counts = {t.parameter_name: t.usage_count for t in listed.parameter_templates}
    assert counts == {"Micronaire": 1, "Staple length": 1, "Trash": 1}
    params = await stub.ListQualityParameters(
        pb.ListQualityParametersRequest(commodity_id=commodity.id)
    )
    assert len(params.quality_parameters) == 3


async def test_apply_is_idempotent_with_request_id(stub, db: Database) -> None:
    commodity = await cotton(stub)
    staple = await template(stub, "Staple length")
    request_id = str(uuid.uuid4())
    first = await apply(stub, commodity.id, staple.id, request_id=request_id)
    before = await event_count(db)
    second = await apply(stub, commodity.id, staple.id, request_id=request_id)
    assert first == second and await event_count(db) == before
    # The same key with other templates is another request: refused, not replayed.
    other = await template(stub, "Moisture")
    reused = await expect_failure(
        apply(stub, commodity.id, other.id, request_id=request_id), INVALID
    )
    assert reused.reason == "REQUEST_ID_REUSED"


async def test_apply_names_every_bad_template(stub, db: Database) -> None:
    commodity = await cotton(stub)
    ok = await template(stub, "Staple length")
    foreign = await template(stub, "Oil content", category="Oilseeds")
    gone = await template(stub, "Colour")
    await stub.DeleteParameterTemplate(pb.DeleteParameterTemplateRequest(id=gone.id))
    before = await event_count(db)
    failure = await expect_failure(
        apply(stub, commodity.id, ok.id, foreign.id, gone.id, str(uuid.uuid4())), INVALID
    )
    assert failure.violations.keys() == {"template_ids[1]", "template_ids[2]", "template_ids[3]"}
    assert await event_count(db) == before  # nothing applied, not even the good one
    for ids, fields in [
        ([], {"template_ids"}),
        ([ok.id, ok.id], {"template_ids[1]"}),
        (["nope", ok.id], {"template_ids[0]"}),
    ]:
        bad = await expect_failure(apply(stub, commodity.id, *ids), INVALID)
        assert bad.fields == fields, ids
    await expect_failure(apply(stub, str(uuid.uuid4()), ok.id), grpc.StatusCode.NOT_FOUND)
    await stub.DeleteCommodity(pb.DeleteCommodityRequest(id=commodity.id))
    deleted = await expect_failure(
        apply(stub, commodity.id, ok.id), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert deleted.reason == "PARENT_DELETED"
