"""Nothing lost in a round trip: every exported column imports back, Varieties included,
and a header the importer does not know is reported, never dropped in silence."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator

import grpc
import pytest
from bulk_support import Stub, collect, csv_file, export_bytes, import_file, read_csv
from grpc import aio
from openpyxl import Workbook
from support import event_count, events, expect_failure

from masterdata.server.bulk.varieties import split_names
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

UPSERT = pb.IMPORT_MODE_UPSERT
CSV, XLSX = pb.EXPORT_FORMAT_CSV, pb.EXPORT_FORMAT_XLSX
#: What the export writes for a workbook's creation time; the rest must be equal.
_WORKBOOK_CLOCK = "docProps/core.xml"


@pytest.fixture
def stub(channel: aio.Channel) -> Stub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


async def _create(stub: Stub, name: str, category: str, **fields: object) -> pb.Commodity:
    commodity = pb.Commodity(name=name, category=category, **fields)
    reply = await stub.CreateCommodity(pb.CreateCommodityRequest(commodity=commodity))
    return reply.commodity


async def _variety(stub: Stub, commodity: pb.Commodity, name: str) -> pb.Variety:
    variety = pb.Variety(commodity_id=commodity.id, name=name)
    return (await stub.CreateVariety(pb.CreateVarietyRequest(variety=variety))).variety


async def _varieties(stub: Stub, commodity_id: str) -> list[str]:
    request = pb.ListVarietiesRequest(commodity_id=commodity_id)
    return sorted(v.name for v in (await stub.ListVarieties(request)).varieties)


def _content(data: bytes, fmt: int) -> dict[str, bytes]:
    """A CSV as is; a workbook's parts, less the one that holds the time it was made."""
    if fmt == CSV:
        return {"csv": data}
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        return {n: book.read(n) for n in book.namelist() if n != _WORKBOOK_CLOCK}


@pytest.mark.parametrize("fmt", [CSV, XLSX], ids=["csv", "xlsx"])
async def test_export_import_export_is_identical(stub: Stub, db: Database, fmt: int) -> None:
    """Varieties, control characters, literal _xHHHH_ text, ; and \\ in names: all kept."""
    cotton = await _create(
        stub, "Traders\x1b", "Fibre", description="bell\x07 _x0041_ tab\tend\nline"
    )
    for name in ("Suvin", "Old;New", "back\\slash", "x_x001B_y"):
        await _variety(stub, cotton, name)
    await _create(stub, "Wheat", "Cereals", hsn_code="1001", supported_currencies=["INR", "USD"])
    first = await export_bytes(stub, format=fmt, include_varieties=True)
    before = await event_count(db)
    source = {"csv_data": first} if fmt == CSV else {"xlsx_data": first}
    result = await import_file(stub, **source, mode=UPSERT)
    assert result.counts() == (2, 0, 0, 2, 0), result.errors
    summary = result.summary
    assert (summary.varieties_created, summary.varieties_updated) == (0, 0)
    assert not summary.ignored_columns and not summary.warnings
    assert await event_count(db) == before
    second = await export_bytes(stub, format=fmt, include_varieties=True)
    assert _content(second, fmt) == _content(first, fmt)
    if fmt == CSV:
        row = read_csv(first)[1]
        cell = row["Varieties"]  # in the database's name order
        assert "Old\\;New" in cell and "back\\\\slash" in cell
        assert set(split_names(cell)) == {"back\\slash", "Old;New", "Suvin", "x_x001B_y"}


async def test_the_varieties_column_creates_renames_and_leaves(stub: Stub, db: Database) -> None:
    cotton = await _create(stub, "Cotton", "Fibre")
    kept = await _variety(stub, cotton, "Suvin")
    renamed = await _variety(stub, cotton, "shankar-6")
    api_made = await events(db, event_type="variety.created", aggregate_id=uuid.UUID(kept.id))
    header = ["Name", "Category", "Varieties"]
    rows = [["Cotton", "Fibre", "Suvin; Shankar-6 ;DCH-32;Old\\;New"], ["Jute", "Fibre", "TD-5"]]
    result = await import_file(stub, csv_data=csv_file(header, rows), mode=UPSERT)
    assert result.counts() == (2, 1, 0, 1, 0), result.errors
    assert (result.summary.varieties_created, result.summary.varieties_updated) == (3, 1)
    assert await _varieties(stub, cotton.id) == ["DCH-32", "Old;New", "Shankar-6", "Suvin"]
    jute = await stub.ListCommodities(pb.ListCommoditiesRequest(filter='name = "Jute"'))
    assert await _varieties(stub, jute.commodities[0].id) == ["TD-5"]
    # The events are those of CreateVariety and UpdateVariety: the resource as it is stored.
    created = await events(db, event_type="variety.created")
    assert len(created) == 2 + 3
    for event in created[2:]:
        message = pb.Variety.FromString(event.resource)
        got = await stub.GetVariety(pb.GetVarietyRequest(id=message.id))
        assert message == got.variety and event.aggregate_version == 1
        assert list(event.changed_fields) == list(api_made[0].changed_fields)
    (updated,) = await events(db, event_type="variety.updated")
    message = pb.Variety.FromString(updated.resource)
    assert message == (await stub.GetVariety(pb.GetVarietyRequest(id=renamed.id))).variety
    assert (message.name, updated.aggregate_version) == ("Shankar-6", 2)
    assert list(updated.changed_fields) == ["name"]
    again = await import_file(stub, csv_data=csv_file(header, rows), mode=UPSERT)
    assert (again.summary.varieties_created, again.summary.varieties_updated) == (0, 0)


async def test_varieties_checked_like_cells_and_counted_when_validating(
    stub: Stub, db: Database
) -> None:
    header = ["Name", "Category", "Varieties"]
    rows = [["Cotton", "Fibre", "A;a"], ["Jute", "Fibre", "x" * 101], ["Rice", "Cereal", "IR-64"]]
    result = await import_file(stub, csv_data=csv_file(header, rows), validate_only=True)
    assert result.error_keys == {
        (2, "varieties", "DUPLICATE_VARIETY"),
        (3, "varieties", "TOO_LONG"),
    }
    assert (result.summary.created, result.summary.varieties_created) == (1, 1)
    assert await event_count(db) == 0


async def test_an_unknown_column_is_named_in_the_summary(stub: Stub, db: Database) -> None:
    data = csv_file(
        ["Name", "Category", "Colour", "", "GST Rat"], [["Cotton", "Fibre", "x", "", ""]]
    )
    result = await import_file(stub, csv_data=data)
    assert result.counts() == (1, 1, 0, 0, 0), result.errors
    assert list(result.summary.ignored_columns) == ["Colour", "GST Rat"]
    assert "'Colour', 'GST Rat'" in result.summary.warnings[0]


async def test_strict_refuses_an_unknown_column(stub: Stub, db: Database) -> None:
    data = csv_file(["Name", "Category", "Colour"], [["Cotton", "Fibre", "x"]])
    failure = await expect_failure(
        import_file(stub, csv_data=data, strict=True), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert "UNKNOWN_COLUMN" in str(failure)

    async def upload() -> AsyncIterator[pb.UploadCommoditiesRequest]:
        yield pb.UploadCommoditiesRequest(options=pb.ImportOptions(strict=True))
        yield pb.UploadCommoditiesRequest(csv_chunk=data)

    await expect_failure(
        collect(stub.UploadCommodities(upload())), grpc.StatusCode.INVALID_ARGUMENT
    )
    assert await event_count(db) == 0


async def test_an_xlsx_header_is_held_to_the_same_rule(stub: Stub, db: Database) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Name", "Category", "Colour", "Varieties"])
    sheet.append(["Cotton", "Fibre", "white", "Suvin;DCH-32"])
    out = io.BytesIO()
    book.save(out)
    result = await import_file(stub, xlsx_data=out.getvalue())
    assert result.counts() == (1, 1, 0, 0, 0), result.errors
    assert list(result.summary.ignored_columns) == ["Colour"]
    assert result.summary.varieties_created == 2
    await expect_failure(
        import_file(stub, xlsx_data=out.getvalue(), strict=True), grpc.StatusCode.INVALID_ARGUMENT
    )


async def test_an_atomic_import_with_a_bad_row_creates_no_variety(stub: Stub, db: Database) -> None:
    header = ["Name", "Category", "Varieties"]
    rows = [["Cotton", "Fibre", "Suvin"], ["Jute", "", "TD-5"]]
    result = await import_file(stub, csv_data=csv_file(header, rows), atomic=True)
    assert not result.summary.committed and result.error_keys == {(3, "category", "REQUIRED")}
    assert await event_count(db) == 0
    listed = await stub.ListCommodities(pb.ListCommoditiesRequest())
    assert not listed.commodities
