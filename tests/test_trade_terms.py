"""TradeTermsService: every method of all six families, parametrised over the table.

Each test runs per family (TRADE_TERM_SPECS) and per backend, through real stubs.
`SPECIFIC` holds a valid value for every family-specific field; a test pins that
it covers exactly the fields the proto adds, so a seventh family needs its row.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message
from grpc import aio
from support import event_count, events, expect_failure

from masterdata.server.api.standard_methods import StandardMethods
from masterdata.server.api.trade_terms import TRADE_TERM_METHODS
from masterdata.server.families.trade_terms import PAYMENT_TERM, TRADE_TERM_SPECS, WEIGHTMENT_TERM
from masterdata.server.resources.spec import ResourceSpec
from masterdata.server.storage.engine import Database
from masterdata.v1 import trade_terms_pb2 as pb
from masterdata.v1 import trade_terms_pb2_grpc

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
EXISTS, ABORTED = grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.ABORTED
PROTO = Path(__file__).parents[1] / "protos/masterdata/v1/trade_terms.proto"
COMMON = {"name", "code", "description", "is_active"}
STANDARD = {"id", "create_time", "update_time", "delete_time", "created_by", "updated_by", "etag"}

SPECIFIC: dict[str, dict[str, Any]] = {
    "trade_type": {},
    "bargain_type": {"requires_approval": True},
    "passing_term": {"requires_quality_test": True},
    "weightment_term": {"weight_deduction_percent": "0.50"},
    "delivery_term": {"includes_freight": True, "includes_insurance": True},
    "payment_term": {
        "days": 90,
        "payment_percentage": "40.00",
        "currency": "USD",
        "supports_multi_currency": True,
        "supports_letter_of_credit": True,
        "lc_types_supported": ["USANCE", "SIGHT"],
        "lc_confirmation_required": True,
        "bank_charges_borne_by": pb.BANK_CHARGE_BEARER_BUYER,
        "forex_adjustment_applicable": True,
        "payment_methods_supported": ["SWIFT", "LC"],
        "swift_required": True,
    },
}
#: Family-specific bad values and the fields they must be reported on.
BAD: dict[str, dict[str, Any]] = {
    "trade_type": {},
    "bargain_type": {},
    "passing_term": {},
    "weightment_term": {"weight_deduction_percent": "100.01"},
    "delivery_term": {},
    "payment_term": {
        "days": -1,
        "payment_percentage": "abc",
        "currency": "QQQ",
        "lc_confirmation_required": True,
        "payment_methods_supported": ["NEFT", " "],
        "bank_charges_borne_by": 9,
    },
}


def methods_of(spec: ResourceSpec) -> StandardMethods:
    """The family's row of the server's table of standard methods."""
    (row,) = (m for m in TRADE_TERM_METHODS if m.resource == spec.name)
    return row


def list_items(names: StandardMethods) -> str:
    response = getattr(pb, f"{names.list}Response").DESCRIPTOR
    return next(f.name for f in response.fields if f.is_repeated)


class Family:
    """Generic client of one family: the RPC names come from TRADE_TERM_METHODS."""

    def __init__(self, spec: ResourceSpec, stub: trade_terms_pb2_grpc.TradeTermsServiceStub):
        self.spec = spec
        self.names = methods_of(spec)
        self.stub = stub
        #: The List response's repeated field (`trade_types`).
        self.items = list_items(self.names)

    async def call(self, verb: str, **request: Any) -> Any:
        rpc = getattr(self.names, verb.lower())
        return await getattr(self.stub, rpc)(getattr(pb, f"{rpc}Request")(**request))

    async def create(self, request_id: str = "", **fields: Any) -> Any:
        fields.setdefault("name", f"term {uuid.uuid4().hex[:8]}")
        reply = await self.call(
            "Create", **{self.spec.name: self.spec.message(**fields)}, request_id=request_id
        )
        return getattr(reply, self.spec.name)

    async def get(self, id_: str) -> Any:
        return getattr(await self.call("Get", id=id_), self.spec.name)

    async def update(self, paths: tuple[str, ...] = (), **fields: Any) -> Any:
        return getattr(await self.update_rpc(paths, **fields), self.spec.name)

    async def list(self, **query: Any) -> list[Any]:
        items: list[Any] = []
        token = ""
        while True:
            page = await self.call("List", page_token=token, **query)
            items.extend(getattr(page, self.items))
            if not (token := page.next_page_token):
                return items

    def update_rpc(self, paths: tuple[str, ...] = (), **fields: Any) -> Any:
        """The Update call as an awaitable (for expect_failure)."""
        mask = field_mask_pb2.FieldMask(paths=list(paths))
        return self.call(
            "Update", **{self.spec.name: self.spec.message(**fields)}, update_mask=mask
        )


@pytest.fixture(params=TRADE_TERM_SPECS, ids=lambda spec: spec.name)
def family(request: pytest.FixtureRequest, channel: aio.Channel) -> Family:
    return Family(request.param, trade_terms_pb2_grpc.TradeTermsServiceStub(channel))


def assert_fields(message: Message, expected: dict[str, Any]) -> None:
    for name, value in expected.items():
        got = getattr(message, name)
        assert (list(got) if isinstance(value, list) else got) == value, name


@pytest.mark.parametrize("spec", TRADE_TERM_SPECS, ids=lambda spec: spec.name)
def test_fixtures_cover_every_specific_field(spec: ResourceSpec) -> None:
    every = {f.name for f in spec.message.DESCRIPTOR.fields}
    assert set(SPECIFIC[spec.name]) == every - COMMON - STANDARD


@pytest.mark.parametrize("spec", TRADE_TERM_SPECS, ids=lambda spec: spec.name)
def test_whitelist_serves_what_the_contract_documents(spec: ResourceSpec) -> None:
    """The `Fields:` lines of List<R>sRequest in the .proto name filter and order fields."""
    request = f"message {methods_of(spec).list}Request {{"
    block = PROTO.read_text().split(request, 1)[1].split("\n}", 1)[0]
    documented = re.findall(r"// Fields: (.*)\.", block)
    assert len(documented) == 2
    for line in documented:
        assert set(line.split(", ")) <= set(spec.query_fields)


async def test_create_get_round_trip(family: Family, db: Database) -> None:
    specific = SPECIFIC[family.spec.name]
    created = await family.create(name="Standard", code="std-1", description="d", **specific)
    assert uuid.UUID(created.id) and created.etag and created.created_by == "anonymous"
    assert (created.name, created.code, created.description) == ("Standard", "STD-1", "d")
    assert created.HasField("is_active") and created.is_active
    assert_fields(created, specific)
    assert await family.get(created.id) == created
    [event] = await events(db)
    assert event.event_type == f"{family.spec.name}.created"
    assert event.aggregate_type == family.spec.name
    assert family.spec.message.FromString(event.resource) == created


async def test_percentages_are_answered_as_stored(channel: aio.Channel) -> None:
    stub = trade_terms_pb2_grpc.TradeTermsServiceStub(channel)
    percent = {PAYMENT_TERM: "payment_percentage", WEIGHTMENT_TERM: "weight_deduction_percent"}
    for spec, name in percent.items():
        created = await (terms := Family(spec, stub)).create(**{name: "5"})
        assert getattr(created, name) == "5.00" and await terms.get(created.id) == created


async def test_defaults_when_fields_are_not_given(family: Family) -> None:
    created = await family.create(name="Bare", is_active=False)
    assert not created.is_active and created.code == ""
    if family.spec.name == "payment_term":
        assert created.bank_charges_borne_by == pb.BANK_CHARGE_BEARER_SHARED
        assert created.days == 0 and created.payment_percentage == ""


async def test_every_bad_field_is_named_and_nothing_is_written(family: Family, db) -> None:
    bad = BAD[family.spec.name]
    term = family.spec.message(code="no spaces!", description="x" * 1001, **bad)
    failure = await expect_failure(family.call("Create", **{family.spec.name: term}), INVALID)
    expected = {"name", "code", "description", *bad}
    assert failure.fields == {f"{family.spec.name}.{name}" for name in expected}
    assert await event_count(db) == 0


async def test_name_and_code_are_unique_per_type_among_live_rows(family: Family, db) -> None:
    first = await family.create(name="Net 30", code="N30")
    name_clash = await expect_failure(family.create(name="  NET 30 "), EXISTS)
    assert name_clash.reason == "DUPLICATE_NAME"
    assert name_clash.fields == {f"{family.spec.name}.name"}
    code_clash = await expect_failure(family.create(name="Other", code="n30"), EXISTS)
    assert code_clash.reason == "DUPLICATE_CODE"
    assert code_clash.fields == {f"{family.spec.name}.code"}
    await family.create(name="No code 1")
    await family.create(name="No code 2")  # empty codes never clash
    await family.call("Delete", id=first.id)
    second = await family.create(name="net 30", code="N30")  # the deleted one no longer counts
    await expect_failure(family.call("Undelete", id=first.id), EXISTS)
    renamed = await expect_failure(
        family.update_rpc(("name",), id=second.id, name="No Code 1"), EXISTS
    )
    assert renamed.reason == "DUPLICATE_NAME"
    assert await event_count(db) == 5


async def test_the_same_name_in_every_family(channel: aio.Channel) -> None:
    stub = trade_terms_pb2_grpc.TradeTermsServiceStub(channel)
    for spec in TRADE_TERM_SPECS:
        await Family(spec, stub).create(name="Standard", code="STD")


async def test_update_with_mask_and_etag(family: Family, db: Database) -> None:
    created = await family.create(name="Before", code="B")
    updated = await family.update(
        ("name", "description"), id=created.id, name="After", code="IGNORED", etag=created.etag
    )
    assert (updated.name, updated.code, updated.description) == ("After", "B", "")
    assert updated.etag != created.etag and updated.create_time == created.create_time
    stale = await expect_failure(
        family.update_rpc(("name",), id=created.id, name="Again", etag=created.etag), ABORTED
    )
    assert stale.reason == "ETAG_MISMATCH"
    [_, event] = await events(db)
    assert event.event_type == f"{family.spec.name}.updated"
    assert event.changed_fields == ["name"] and event.aggregate_version == 2


async def test_update_of_the_specific_fields(family: Family, db: Database) -> None:
    created = await family.create(name="Plain")
    specific = SPECIFIC[family.spec.name]
    updated = await family.update(id=created.id, **specific)  # empty mask: populated fields
    assert updated == await family.get(created.id)
    assert_fields(updated, specific)
    assert await event_count(db) == (2 if specific else 1)


async def test_code_is_upper_cased_and_checked_on_update(family: Family) -> None:
    created = await family.create(name="Coded", code="fob")
    assert created.code == "FOB"
    same = await family.update(("code",), id=created.id, code="FOB")
    assert same.etag == created.etag  # no change, no new revision
    bad = await expect_failure(family.update_rpc(("code",), id=created.id, code="F O B"), INVALID)
    assert bad.fields == {f"{family.spec.name}.code"} and bad.reason == "INVALID_CODE"
    blank = await expect_failure(family.update_rpc(("name",), id=created.id), INVALID)
    assert blank.fields == {f"{family.spec.name}.name"}


async def test_unknown_mask_path_is_invalid(family: Family, db) -> None:
    created = await family.create()
    failure = await expect_failure(
        family.update_rpc(("name", "colour"), id=created.id, name="x"), INVALID
    )
    assert failure.fields == {"update_mask"}
    assert await family.get(created.id) == created and await event_count(db) == 1


async def test_soft_delete_show_deleted_and_undelete(family: Family, db: Database) -> None:
    kept, gone = await family.create(name="kept"), await family.create(name="gone")
    deleted = getattr(await family.call("Delete", id=gone.id, etag=gone.etag), family.spec.name)
    assert deleted.HasField("delete_time")
    assert [t.id for t in await family.list()] == [kept.id]
    assert {t.id for t in await family.list(show_deleted=True)} == {kept.id, gone.id}
    assert (await family.get(gone.id)).HasField("delete_time")
    await expect_failure(family.call("Delete", id=gone.id), NOT_FOUND)
    await expect_failure(family.update_rpc(id=gone.id, name="x"), NOT_FOUND)
    await expect_failure(family.call("Delete", id=kept.id, etag='W/"9"'), ABORTED)
    restored = getattr(await family.call("Undelete", id=gone.id), family.spec.name)
    assert not restored.HasField("delete_time")
    await expect_failure(family.call("Undelete", id=gone.id), EXISTS)
    kinds = [
        (e.event_type, e.aggregate_version)
        for e in await events(db, aggregate_id=uuid.UUID(gone.id))
    ]
    name = family.spec.name
    assert kinds == [(f"{name}.created", 1), (f"{name}.deleted", 2), (f"{name}.undeleted", 3)]


@pytest.mark.parametrize("bad_id", ["", "nope", "' OR 1=1 --"])
async def test_malformed_and_unknown_ids(family: Family, bad_id: str) -> None:
    failure = await expect_failure(family.call("Get", id=bad_id), INVALID)
    assert failure.fields == {"id"}
    missing = str(uuid.uuid4())
    reason = f"{family.spec.name.upper()}_NOT_FOUND"
    for verb in ("Get", "Delete", "Undelete"):
        assert (await expect_failure(family.call(verb, id=missing), NOT_FOUND)).reason == reason
    gone = await expect_failure(family.update_rpc(id=missing, name="n"), NOT_FOUND)
    assert gone.reason == reason


async def test_request_id_retry_returns_the_first_result(family: Family, db) -> None:
    request_id = str(uuid.uuid4())
    first = await family.create(request_id=request_id, name="Once")
    again = await family.create(request_id=request_id, name="Once")
    assert again == first and len(await family.list()) == 1
    changed = await expect_failure(family.create(request_id=request_id, name="Twice"), INVALID)
    assert changed.reason == "REQUEST_ID_REUSED"
    assert await event_count(db) == 1


async def test_common_filters_order_and_paging(family: Family) -> None:
    rows = [("Bravo", "B2"), ("alpha", "A1"), ("Charlie", ""), ("Delta", "D4"), ("echo", "E5")]
    made = [await family.create(name=n, code=c, is_active=n[0].isupper()) for n, c in rows]
    by_name = {t.name: t.id for t in made}

    async def check(expected: str, **query: Any) -> None:
        got = [t.id for t in await family.list(**query)]
        assert got == [by_name[n] for n in expected.split()], query

    await check("alpha echo", filter="is_active = false")
    await check("Bravo Delta", filter='code = "D4" OR name = "Bravo"')
    await check("alpha Charlie", filter='name : "ha"')
    await check("Delta echo", filter=f'create_time >= "{made[3].create_time.ToJsonString()}"')
    await check("echo Delta Bravo alpha Charlie", order_by="code desc", page_size=2)
    await check("Bravo Charlie Delta", order_by="name", filter="NOT is_active = false", page_size=1)
    await check("Delta Charlie Bravo", order_by="update_time desc", filter="is_active = true")


@pytest.mark.parametrize("query", [{"filter": 'description = "x"'}, {"order_by": "description"}])
async def test_fields_outside_the_whitelist_are_invalid(family: Family, query: dict) -> None:
    failure = await expect_failure(family.call("List", **query), INVALID)
    assert "description" in failure.message + str(failure.violations)


BUYER = pb.BANK_CHARGE_BEARER_BUYER
LC_AND_SWIFT = {"swift_required": True, "supports_letter_of_credit": True}
#: Per family: the specific fields of three rows, then (filter, order_by, matching rows).
FILTER_CASES: dict[str, tuple[list[dict[str, Any]], list[tuple[str, str, list[int]]]]] = {
    "trade_type": ([{}, {}, {}], [("", "name desc", [2, 1, 0])]),
    "bargain_type": (
        [{"requires_approval": True}, {}, {"requires_approval": True}],
        [("requires_approval = true", "", [0, 2]), ("requires_approval != true", "", [1])],
    ),
    "passing_term": (
        [{"requires_quality_test": True}, {}, {}],
        [("requires_quality_test = false", "name desc", [2, 1])],
    ),
    "weightment_term": (
        [{"weight_deduction_percent": "0.25"}, {"weight_deduction_percent": "1.50"}, {}],
        [
            ("weight_deduction_percent > 0.5", "", [1]),
            ("weight_deduction_percent <= 0.25", "", [0]),
        ],
    ),
    "delivery_term": (
        [{"includes_freight": True, "includes_insurance": True}, {"includes_freight": True}, {}],
        [
            ("includes_freight = true AND includes_insurance = false", "", [1]),
            ("includes_freight = true", "name desc", [1, 0]),
        ],
    ),
    "payment_term": (
        [
            {"days": 0, "currency": "inr"},
            {"days": 30, "currency": "USD", "bank_charges_borne_by": BUYER, **LC_AND_SWIFT},
            {"days": 60, "supports_multi_currency": True},
        ],
        [
            ("days >= 30", "days desc", [2, 1]),
            ('currency = "INR"', "", [0]),
            ("bank_charges_borne_by = BUYER", "", [1]),
            ('bank_charges_borne_by = "shared"', "", [0, 2]),
            ("swift_required = true AND supports_letter_of_credit = true", "", [1]),
            ("supports_multi_currency = true", "", [2]),
        ],
    ),
}


async def test_specific_filters_and_order(family: Family) -> None:
    rows, cases = FILTER_CASES[family.spec.name]
    made = [await family.create(name=f"row {i}", **row) for i, row in enumerate(rows)]
    for filter_, order_by, expected in cases:
        got = await family.list(filter=filter_, order_by=order_by)
        assert [t.id for t in got] == [made[i].id for i in expected], (filter_, order_by)


def test_filter_cases_cover_every_filterable_specific_field() -> None:
    common = {"name", "code", "is_active", "create_time", "update_time"}
    for spec in TRADE_TERM_SPECS:
        cases = FILTER_CASES[spec.name][1]
        used = {name for f, _, _ in cases for name in re.findall(r"[a-z_]+(?= [=<>!])", f)}
        assert set(spec.query_fields) - common <= used, spec.name


async def test_payment_term_rules_on_update(channel: aio.Channel) -> None:
    stub = trade_terms_pb2_grpc.TradeTermsServiceStub(channel)
    terms = Family(PAYMENT_TERM, stub)
    lc = await terms.create(supports_letter_of_credit=True, lc_types_supported=["sight "])
    assert list(lc.lc_types_supported) == ["SIGHT"]

    async def rejects(paths: tuple[str, ...], **fields: Any) -> set[str]:
        failure = await expect_failure(terms.update_rpc(paths, id=lc.id, **fields), INVALID)
        return {f.removeprefix("payment_term.") for f in failure.fields}

    assert await rejects(("supports_letter_of_credit",)) == {"lc_types_supported"}
    assert await rejects(("bank_charges_borne_by",)) == {"bank_charges_borne_by"}
    many = [f"M{i}" for i in range(21)]
    assert await rejects(
        ("payment_methods_supported", "days"), payment_methods_supported=many, days=3651
    ) == {"payment_methods_supported", "days"}
