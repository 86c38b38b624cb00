"""`masterdata seed`: idempotent reference data, on both backends, visible over gRPC."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from grpc import aio
from support import event_count, events

from masterdata import cli
from masterdata.server.api.trade_terms import TRADE_TERM_METHODS
from masterdata.server.app import App
from masterdata.server.families.trade_terms import DELIVERY_TERM
from masterdata.server.resources.standard import Resources
from masterdata.server.seed import SeedError, SeedReport, seed_reference_data
from masterdata.server.seed.commodities_data import COMMODITIES, PARAMETER_TEMPLATES
from masterdata.server.seed.loader import commodity_module, ensure
from masterdata.server.seed.trade_terms_data import TRADE_TERMS
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as cpb
from masterdata.v1 import commodity_pb2_grpc, trade_terms_pb2_grpc
from masterdata.v1 import trade_terms_pb2 as pb

#: The other half of issue 4 (CommodityService) may not be there yet; the seed copes.
HAS_COMMODITIES = commodity_module() is not None


def expected_counts() -> dict[str, int]:
    counts = {name: len(records) for name, records in TRADE_TERMS.items()}
    if HAS_COMMODITIES:
        counts["parameter_template"] = len(PARAMETER_TEMPLATES)
        counts["commodity"] = len(COMMODITIES)
        counts["variety"] = sum(len(c.get("varieties", [])) for c in COMMODITIES)
    return counts


def created(report: SeedReport) -> dict[str, int]:
    return {name: t.created for name, t in report.tallies.items()}


@pytest.fixture
def stub(channel: aio.Channel) -> trade_terms_pb2_grpc.TradeTermsServiceStub:
    return trade_terms_pb2_grpc.TradeTermsServiceStub(channel)


@pytest.mark.parametrize("family", sorted(TRADE_TERMS))
def test_seed_records_are_unique_per_family(family: str) -> None:
    records = TRADE_TERMS[family]
    assert len({r["name"].lower() for r in records}) == len(records)
    assert len({r["code"] for r in records}) == len(records)


def parse_summary(out: str) -> dict[str, tuple[int, int]]:
    """The `masterdata seed` table as {resource: (created, present)}, total included."""
    rows = [line.split() for line in out.splitlines()[1:] if not line.startswith("skipped:")]
    return {name: (int(made), int(there)) for name, made, there in rows}


async def test_seed_twice_through_the_cli(
    app: App, db: Database, stub, capsys: pytest.CaptureFixture[str]
) -> None:
    url = app.runtime.settings.database_url
    counts = expected_counts()
    total = sum(counts.values())
    assert await asyncio.to_thread(cli.main, ["seed", "--database-url", url]) == 0
    first = parse_summary(capsys.readouterr().out)
    assert first == {**{n: (c, 0) for n, c in counts.items()}, "total": (total, 0)}
    assert await event_count(db) == total
    assert await asyncio.to_thread(cli.main, ["seed", "--database-url", url]) == 0
    second = parse_summary(capsys.readouterr().out)
    assert second == {**{n: (0, c) for n, c in counts.items()}, "total": (0, total)}
    assert await event_count(db) == total
    fob = await stub.ListDeliveryTerms(pb.ListDeliveryTermsRequest(filter='code = "FOB"'))
    [term] = fob.delivery_terms
    assert (term.name, term.includes_freight, term.includes_insurance) == (
        "Free On Board",
        False,
        False,
    )
    assert term.created_by == "masterdata-seed"


async def test_seed_twice_through_the_loader(app: App, db: Database, stub) -> None:
    first = await seed_reference_data(app.runtime)
    assert created(first) == expected_counts()
    before = await snapshot(stub)
    sequence = (await events(db))[-1].sequence
    second = await seed_reference_data(app.runtime)
    assert second.created == 0
    assert {name: t.present for name, t in second.tallies.items()} == expected_counts()
    assert (await events(db))[-1].sequence == sequence
    assert await snapshot(stub) == before
    assert all(e.actor == "masterdata-seed" for e in await events(db))


async def test_seeded_terms_through_the_api(app: App, db: Database, stub) -> None:
    await seed_reference_data(app.runtime)
    lc = await stub.ListPaymentTerms(
        pb.ListPaymentTermsRequest(filter="supports_letter_of_credit = true", order_by="days")
    )
    assert [t.code for t in lc.payment_terms][-1] == "LC_USANCE_90"
    assert all(t.swift_required and t.currency == "USD" for t in lc.payment_terms)
    credit = await stub.ListPaymentTerms(pb.ListPaymentTermsRequest(filter='code = "NET30"'))
    assert credit.payment_terms[0].days == 30
    insured = await stub.ListDeliveryTerms(
        pb.ListDeliveryTermsRequest(filter="includes_insurance = true", order_by="code")
    )
    assert [t.code for t in insured.delivery_terms] == ["CIF", "CIP"]
    tare = await stub.ListWeightmentTerms(
        pb.ListWeightmentTermsRequest(filter="weight_deduction_percent > 0")
    )
    assert [t.weight_deduction_percent for t in tare.weightment_terms] == ["0.50"]


async def test_operator_changes_survive_and_deleted_rows_come_back(
    app: App, db: Database, stub
) -> None:
    await seed_reference_data(app.runtime)
    reply = await stub.ListDeliveryTerms(pb.ListDeliveryTermsRequest(filter='code = "FOB"'))
    fob = reply.delivery_terms[0]
    await stub.UpdateDeliveryTerm(
        pb.UpdateDeliveryTermRequest(delivery_term=pb.DeliveryTerm(id=fob.id, name="FOB (Kandla)"))
    )
    cif = await stub.ListDeliveryTerms(pb.ListDeliveryTermsRequest(filter='code = "CIF"'))
    await stub.DeleteDeliveryTerm(pb.DeleteDeliveryTermRequest(id=cif.delivery_terms[0].id))
    again = await seed_reference_data(app.runtime)
    assert created(again) == {name: int(name == "delivery_term") for name in expected_counts()}
    names = {
        t.code: t.name
        for t in (
            await stub.ListDeliveryTerms(pb.ListDeliveryTermsRequest(page_size=100))
        ).delivery_terms
    }
    assert names["FOB"] == "FOB (Kandla)" and names["CIF"] == "Cost, Insurance and Freight"


async def test_a_bad_seed_record_is_reported_with_its_fields(app: App, db: Database) -> None:
    service = Resources(app.runtime, DELIVERY_TERM)
    with pytest.raises(SeedError, match=r"delivery_term 'BAD CODE'.*delivery_term\.code"):
        await ensure(service, {"name": "Bad", "code": "BAD CODE"}, SeedReport())
    assert await event_count(db) == 0


def test_cli_seeds_a_fresh_sqlite_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    assert cli.main(["seed", "--database-url", url]) == 0  # migrates SQLite first
    out = capsys.readouterr().out
    assert out.startswith("resource") and "payment_term" in out


@pytest.mark.skipif(not HAS_COMMODITIES, reason="CommodityService is not built yet")
async def test_commodities_templates_and_varieties_through_the_api(
    app: App, db: Database, channel: aio.Channel
) -> None:
    await seed_reference_data(app.runtime)
    stub = commodity_pb2_grpc.CommodityServiceStub(channel)
    listed = await stub.ListCommodities(cpb.ListCommoditiesRequest(page_size=100))
    by_name = {c.name: c for c in listed.commodities}
    assert set(by_name) == {c["name"] for c in COMMODITIES}
    cotton = by_name["Cotton"]
    assert (cotton.hsn_code, cotton.gst_rate, cotton.trade_unit) == ("520100", "5.00", "BALE")
    for record in COMMODITIES:
        reply = await stub.ListVarieties(
            cpb.ListVarietiesRequest(commodity_id=by_name[record["name"]].id, order_by="name")
        )
        expected = sorted(v["name"] for v in record.get("varieties", []))
        assert [v.name for v in reply.varieties] == expected
    suggested = await stub.SuggestParameters(cpb.SuggestParametersRequest(commodity_id=cotton.id))
    assert {t.parameter_name for t in suggested.parameter_templates} == {
        t["parameter_name"] for t in PARAMETER_TEMPLATES
    }


async def snapshot(stub) -> dict[str, list[Any]]:
    """Every live trade term, per family, as the API returns it."""
    result: dict[str, list[Any]] = {}
    for names in TRADE_TERM_METHODS:
        reply = await getattr(stub, names.list)(getattr(pb, f"{names.list}Request")(page_size=1000))
        (items,) = (f.name for f in reply.DESCRIPTOR.fields if f.is_repeated)
        result[names.resource] = list(getattr(reply, items))
    return result
