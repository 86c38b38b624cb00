"""Every write RPC records its events: one table, one parametrised test.

Each row of WRITE_CASES names an RPC, how to build its request (arranging what it
needs first) and the event types it must append, in order. A family of standard
methods is one `standard(...)` line; other writes (ActivateFinancialYear,
NextDocumentNumber, ImportCommodities, ...) are one `WriteCase` line each.

`test_every_write_rpc_is_in_the_table` keeps the table honest: any write RPC of
the contract that the server implements (does not answer UNIMPLEMENTED) must
have a row here, so the check tightens itself as services land.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
import pytest
from feed_support import PB2_MODULES, call, created, list_all, method, snake_case
from google.protobuf import field_mask_pb2, message_factory
from google.protobuf.message import Message
from google.type import date_pb2
from grpc import aio
from organization_support import gstin

from masterdata.v1 import commodity_pb2, events_pb2, location_pb2, organization_pb2, trade_terms_pb2

WRITE_RPC = re.compile(
    r"(Create|Update|Delete|Undelete|Activate|Next|RollOver|Apply|Import|Upload)"
)
#: Builds the request (a list of messages for a client-streaming RPC).
Arrange = Callable[[aio.Channel], Awaitable[Any]]
Parent = Callable[[aio.Channel], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class WriteCase:
    """`rpc` ("Service/Method"), its request built by `arrange`, the events it appends."""

    rpc: str
    arrange: Arrange
    events: tuple[str, ...]

    def __str__(self) -> str:
        return self.rpc


@dataclass(frozen=True)
class Family:
    """A resource with standard methods, and how to make a valid one."""

    service: str
    resource: str
    module: ModuleType
    parent: Parent | None
    change: dict[str, Any]
    fields: dict[str, Any]

    @property
    def field(self) -> str:
        return snake_case(self.resource)

    def request(self, verb: str, **kw: Any) -> Message:
        return getattr(self.module, f"{verb}{self.resource}Request")(**kw)

    async def values(self, channel: aio.Channel) -> dict[str, Any]:
        return self.fields | (await self.parent(channel) if self.parent else {})

    async def made(self, channel: aio.Channel) -> Any:
        values = await self.values(channel)
        return await created(channel, self.service, self.resource, self.module, **values)

    async def create(self, channel: aio.Channel) -> Message:
        message = getattr(self.module, self.resource)(**await self.values(channel))
        return self.request("Create", **{self.field: message})

    async def update(self, channel: aio.Channel) -> Message:
        target = getattr(self.module, self.resource)(
            id=(await self.made(channel)).id, **self.change
        )
        mask = field_mask_pb2.FieldMask(paths=list(self.change))
        return self.request("Update", **{self.field: target}, update_mask=mask)

    async def delete(self, channel: aio.Channel) -> Message:
        return self.request("Delete", id=(await self.made(channel)).id)

    async def undelete(self, channel: aio.Channel) -> Message:
        target = await self.made(channel)
        rpc = f"{self.service}/Delete{self.resource}"
        await call(channel, rpc, self.request("Delete", id=target.id))
        return self.request("Undelete", id=target.id)


STANDARD_VERBS = (
    ("Create", "created"),
    ("Update", "updated"),
    ("Delete", "deleted"),
    ("Undelete", "undeleted"),
)


def standard(
    service: str,
    resource: str,
    module: ModuleType,
    *,
    parent: Parent | None = None,
    change: dict[str, Any] | None = None,
    **fields: Any,
) -> list[WriteCase]:
    """Create/Update/Delete/Undelete rows of a resource made from `fields`.

    `parent` creates what the resource needs first and returns the fields that
    point at it (e.g. organization_id); Update sets `change` (default: `name`
    with " 2" appended) under an update_mask of its keys.
    """
    change = change or {"name": f"{fields.get('name')} 2"}
    family = Family(service, resource, module, parent, change, fields)
    return [
        WriteCase(
            f"{service}/{verb}{resource}",
            getattr(family, verb.lower()),
            (f"{family.field}.{past}",),
        )
        for verb, past in STANDARD_VERBS
    ]


# ---- what the rows need first ----------------------------------------------

ORG, COM, TT = "OrganizationService", "CommodityService", "TradeTermsService"


def _day(text: str) -> date_pb2.Date:
    year, month, day = map(int, text.split("-"))
    return date_pb2.Date(year=year, month=month, day=day)


async def an_organization(channel: aio.Channel) -> dict[str, Any]:
    org = await created(channel, ORG, "Organization", organization_pb2, name="Shree Cotton")
    return {"organization_id": org.id}


async def a_year(channel: aio.Channel, start: str = "2025-04-01", end: str = "2026-03-31") -> Any:
    org = await an_organization(channel)
    dates = {"start_date": _day(start), "end_date": _day(end)}
    return await created(channel, ORG, "FinancialYear", organization_pb2, **org, **dates)


async def a_year_of_an_organization(channel: aio.Channel) -> dict[str, Any]:
    year = await a_year(channel)
    return {"organization_id": year.organization_id, "financial_year_id": year.id}


async def a_commodity(channel: aio.Channel) -> dict[str, Any]:
    made = await created(channel, COM, "Commodity", commodity_pb2, name="Cotton", category="Fibre")
    return {"commodity_id": made.id}


async def activate_year(channel: aio.Channel) -> Message:
    year = await a_year(channel)
    return organization_pb2.ActivateFinancialYearRequest(id=year.id)


async def next_number(channel: aio.Channel) -> Message:
    year = await a_year(channel)
    activate = organization_pb2.ActivateFinancialYearRequest(id=year.id)
    await call(channel, f"{ORG}/ActivateFinancialYear", activate)
    ids = {"organization_id": year.organization_id, "financial_year_id": year.id}
    await created(channel, ORG, "DocumentSeries", organization_pb2, document_type="INVOICE", **ids)
    return organization_pb2.NextDocumentNumberRequest(
        organization_id=year.organization_id, document_type="INVOICE"
    )


async def roll_over(channel: aio.Channel) -> Message:
    old = await a_year(channel)
    ids = {"organization_id": old.organization_id, "financial_year_id": old.id}
    await created(channel, ORG, "DocumentSeries", organization_pb2, document_type="INVOICE", **ids)
    new = await created(
        channel,
        ORG,
        "FinancialYear",
        organization_pb2,
        organization_id=old.organization_id,
        start_date=_day("2026-04-01"),
        end_date=_day("2027-03-31"),
    )
    return organization_pb2.RollOverDocumentSeriesRequest(
        organization_id=old.organization_id,
        from_financial_year_id=old.id,
        to_financial_year_id=new.id,
    )


def _two_commodities() -> commodity_pb2.CommodityRows:
    return commodity_pb2.CommodityRows(
        commodities=[
            commodity_pb2.Commodity(name="Cotton", category="Fibre"),
            commodity_pb2.Commodity(name="Wheat", category="Grain"),
        ]
    )


async def import_rows(_channel: aio.Channel) -> Message:
    mode = commodity_pb2.IMPORT_MODE_CREATE_ONLY
    return commodity_pb2.ImportCommoditiesRequest(rows=_two_commodities(), mode=mode)


async def upload_rows(_channel: aio.Channel) -> list[Message]:
    options = commodity_pb2.ImportOptions(mode=commodity_pb2.IMPORT_MODE_CREATE_ONLY)
    return [
        commodity_pb2.UploadCommoditiesRequest(options=options),
        commodity_pb2.UploadCommoditiesRequest(rows=_two_commodities()),
    ]


async def apply_templates(channel: aio.Channel) -> Message:
    commodity = await a_commodity(channel)
    template = await created(
        channel, COM, "ParameterTemplate", commodity_pb2, category="Fibre", parameter_name="Trash"
    )
    return commodity_pb2.ApplyParameterTemplatesRequest(
        commodity_id=commodity["commodity_id"], template_ids=[template.id]
    )


# ---- the table ---------------------------------------------------------------

WRITE_CASES: list[WriteCase] = [
    *standard("LocationService", "Location", location_pb2, name="Kandla port"),
    *standard(TT, "TradeType", trade_terms_pb2, name="Export"),
    *standard(TT, "BargainType", trade_terms_pb2, name="Spot"),
    *standard(TT, "PassingTerm", trade_terms_pb2, name="Buyer passing"),
    *standard(TT, "WeightmentTerm", trade_terms_pb2, name="Mill weighment"),
    *standard(TT, "DeliveryTerm", trade_terms_pb2, name="Free on board"),
    *standard(TT, "PaymentTerm", trade_terms_pb2, name="Net 30"),
    *standard(ORG, "Organization", organization_pb2, name="Shree Cotton"),
    *standard(
        ORG,
        "GstRegistration",
        organization_pb2,
        parent=an_organization,
        change={"legal_name": "Shree Cotton Pvt Ltd"},
        gstin=gstin(),
    ),
    *standard(
        ORG,
        "BankAccount",
        organization_pb2,
        parent=an_organization,
        change={"bank_name": "ICICI Bank"},
        account_holder="Shree Cotton",
        bank_name="HDFC Bank",
        account_number="50100012341234",
    ),
    *standard(
        ORG,
        "FinancialYear",
        organization_pb2,
        parent=an_organization,
        change={"allow_year_split": True},
        start_date=_day("2025-04-01"),
        end_date=_day("2026-03-31"),
    ),
    *standard(
        ORG,
        "DocumentSeries",
        organization_pb2,
        parent=a_year_of_an_organization,
        change={"prefix": "INV/"},
        document_type="INVOICE",
    ),
    WriteCase(f"{ORG}/ActivateFinancialYear", activate_year, ("financial_year.updated",)),
    WriteCase(f"{ORG}/NextDocumentNumber", next_number, ("document_series.number_issued",)),
    WriteCase(f"{ORG}/RollOverDocumentSeries", roll_over, ("document_series.created",)),
    *standard(COM, "Commodity", commodity_pb2, name="Cotton", category="Fibre"),
    *standard(COM, "Variety", commodity_pb2, parent=a_commodity, name="Shankar-6"),
    *standard(
        COM,
        "QualityParameter",
        commodity_pb2,
        parent=a_commodity,
        change={"unit": "%"},
        parameter_name="Moisture",
    ),
    *standard(
        COM,
        "ParameterTemplate",
        commodity_pb2,
        change={"description": "Percent by weight"},
        category="Fibre",
        parameter_name="Moisture",
    ),
    *standard(
        COM, "CommissionStructure", commodity_pb2, parent=a_commodity, name="Broker", rate="1.00"
    ),
    WriteCase(
        f"{COM}/ApplyParameterTemplates",
        apply_templates,
        ("quality_parameter.created", "parameter_template.updated"),
    ),
    WriteCase(f"{COM}/ImportCommodities", import_rows, ("commodity.created",) * 2),
    WriteCase(f"{COM}/UploadCommodities", upload_rows, ("commodity.created",) * 2),
]


def _resource_in(reply: Any, event: events_pb2.Event) -> Message | None:
    """The resource of `event` as the (unary) reply returned it, when the reply holds it."""
    if not isinstance(reply, Message):
        return None
    for descriptor, value in reply.ListFields():
        if descriptor.message_type is None or descriptor.is_repeated:
            continue
        type_name = descriptor.message_type.full_name
        if (
            event.resource.TypeName() == type_name
            and getattr(value, "id", "") == event.aggregate_id
        ):
            return value
    return None


@pytest.mark.parametrize("case", WRITE_CASES, ids=str)
async def test_write_rpc_records_its_events(channel: aio.Channel, case: WriteCase) -> None:
    request = await case.arrange(channel)
    before = await list_all(channel)
    head = before[-1].sequence if before else 0
    reply = await call(channel, case.rpc, request)
    appended = await list_all(channel, after_sequence=head)
    assert tuple(e.event_type for e in appended) == case.events
    for event in appended:
        assert event.actor and event.aggregate_version >= 1 and event.event_id
        resource = message_factory.GetMessageClass(
            method(case.rpc).containing_service.file.pool.FindMessageTypeByName(
                event.resource.TypeName()
            )
        )()
        assert event.resource.Unpack(resource), event.resource.type_url
        assert getattr(resource, "id", event.aggregate_id) == event.aggregate_id
        shown = _resource_in(reply, event)
        if shown is not None:  # masked in the event exactly as in the response
            assert resource == shown
        if event.event_type.endswith(".updated"):
            assert list(event.changed_fields.paths)


def _write_rpcs() -> list[str]:
    return [
        f"{service.name}/{rpc.name}"
        for module in PB2_MODULES
        for service in module.DESCRIPTOR.services_by_name.values()
        for rpc in service.methods
        if WRITE_RPC.match(rpc.name)
    ]


async def _answers_unimplemented(channel: aio.Channel, rpc: str) -> bool:
    descriptor = method(rpc)
    path = f"/{descriptor.containing_service.full_name}/{descriptor.name}"
    request = message_factory.GetMessageClass(descriptor.input_type)()
    serialize, identity = type(request).SerializeToString, bytes
    try:
        if descriptor.client_streaming:
            invoke = channel.stream_stream(path, serialize, identity)
            async for _ in invoke(iter([request])):
                pass
        elif descriptor.server_streaming:
            async for _ in channel.unary_stream(path, serialize, identity)(request):
                pass
        else:
            await channel.unary_unary(path, serialize, identity)(request)
    except aio.AioRpcError as error:
        return error.code() == grpc.StatusCode.UNIMPLEMENTED
    return False


async def test_every_write_rpc_is_in_the_table(channel: aio.Channel) -> None:
    covered = {case.rpc for case in WRITE_CASES}
    missing = [
        rpc
        for rpc in _write_rpcs()
        if rpc not in covered and not await _answers_unimplemented(channel, rpc)
    ]
    assert not missing, f"implemented write RPCs without a row in WRITE_CASES: {missing}"
