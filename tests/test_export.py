"""ExportCommodities (rows, CSV, XLSX) and the round trip export -> UPSERT import."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from bulk_support import (
    Stub,
    collect,
    commodity_count,
    csv_file,
    export_bytes,
    import_file,
    read_csv,
)
from grpc import aio
from openpyxl import load_workbook
from support import event_count, expect_failure, make_settings

from masterdata.server.app import App, build
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT
HEADER = [
    "Name",
    "Category",
    "HSN Code",
    "HS Code (6 digit)",
    "GST Rate (%)",
    "Description",
    "Trade Unit",
    "Standard Weight per Unit (kg)",
    "Supported Currencies",
    "Major Producing Countries",
    "Price Volatility",
    "Fumigation Required",
    "Shelf Life (days)",
    "Active",
    "Contract Specifications (JSON)",
]
ROWS = [
    [
        "Cotton",
        "Fibre",
        "52010010",
        "520100",
        "5",
        'Raw, "ginned"\nShankar-6',
        "bale",
        "170",
        "INR;USD",
        "IN;US",
        "high",
        "yes",
        "0",
        "true",
        '{"basis": "Shankar-6", "lot": 100, "grades": ["A", null, true]}',
    ],
    ["कपास", "रेशा", "", "", "", "", "", "", "", "", "", "", "", "false", ""],
    ["Wheat", "Cereals", "1001", "", "0", "", "QTL", "", "", "", "LOW", "", "365", "", "{}"],
    ["Jute", "Fibre", "5303", "", "12.5", "", "", "", "EUR", "BD", "", "", "", "", ""],
]


@pytest.fixture
def stub(channel: aio.Channel) -> Stub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


@pytest.fixture
async def loaded(stub: Stub, db: Database) -> int:
    result = await import_file(stub, csv_data=csv_file(HEADER, ROWS))
    assert result.counts() == (4, 4, 0, 0, 0), result.errors
    return await event_count(db)


UPSERT = pb.IMPORT_MODE_UPSERT


async def test_a_csv_export_reimported_with_upsert_changes_nothing(
    stub: Stub, db: Database, loaded: int
) -> None:
    data = await export_bytes(stub, format=pb.EXPORT_FORMAT_CSV)
    rows = read_csv(data)
    assert [r["Name"] for r in rows] == ["Wheat", "Cotton", "Jute", "कपास"]  # category, name
    assert rows[1]["Description"] == 'Raw, "ginned"\nShankar-6'
    assert rows[1]["Supported Currencies"] == "INR;USD" and rows[1]["Price Volatility"] == "HIGH"
    result = await import_file(stub, csv_data=data, mode=UPSERT)
    assert result.counts() == (4, 0, 0, 4, 0), result.errors
    assert await event_count(db) == loaded


async def test_an_xlsx_export_reimported_with_upsert_changes_nothing(
    stub: Stub, db: Database, loaded: int
) -> None:
    data = await export_bytes(stub, format=pb.EXPORT_FORMAT_XLSX)
    assert data[:2] == b"PK"
    result = await import_file(stub, xlsx_data=data, mode=UPSERT)
    assert result.counts() == (4, 0, 0, 4, 0), result.errors
    assert await event_count(db) == loaded


async def test_a_rows_export_reimported_as_messages_changes_nothing(
    stub: Stub, db: Database, loaded: int
) -> None:
    request = pb.ExportCommoditiesRequest(format=pb.EXPORT_FORMAT_ROWS)
    exported = [i.commodity for i in await exported_rows(stub, request)]
    assert len(exported) == 4
    rows = pb.CommodityRows(commodities=exported)
    result = await import_file(stub, rows=rows, mode=UPSERT)
    assert result.counts() == (4, 0, 0, 4, 0), result.errors
    assert await event_count(db) == loaded
    fetched = await stub.GetCommodity(pb.GetCommodityRequest(id=exported[1].id))
    assert fetched.commodity == exported[1]


async def exported_rows(stub: Stub, request: pb.ExportCommoditiesRequest) -> list[Any]:
    """The commodities of a ROWS export, from its batches in order."""
    return [item async for reply in stub.ExportCommodities(request) for item in reply.rows.items]


async def test_a_rows_export_sends_batches_not_a_message_per_commodity(
    stub: Stub, db: Database
) -> None:
    many = [[f"Grade {i:04d}", "Cotton lint", "5201"] + [""] * 12 for i in range(1200)]
    result = await import_file(stub, csv_data=csv_file(HEADER, many))
    assert result.counts()[1] == 1200, result.errors
    request = pb.ExportCommoditiesRequest(format=pb.EXPORT_FORMAT_ROWS)
    sizes = [len(reply.rows.items) async for reply in stub.ExportCommodities(request)]
    assert sizes == [500, 500, 200]
    names = [i.commodity.name for i in await exported_rows(stub, request)]
    assert names == [f"Grade {i:04d}" for i in range(1200)]


async def test_filter_and_varieties(stub: Stub, db: Database, loaded: int) -> None:
    listed = await stub.ListCommodities(pb.ListCommoditiesRequest(filter='name = "Cotton"'))
    cotton = listed.commodities[0]
    for name in ("Suvin", "Shankar-6", "Old"):
        reply = await stub.CreateVariety(
            pb.CreateVarietyRequest(variety=pb.Variety(commodity_id=cotton.id, name=name))
        )
    await stub.DeleteVariety(pb.DeleteVarietyRequest(id=reply.variety.id))
    request = pb.ExportCommoditiesRequest(
        filter='category = "Fibre"', format=pb.EXPORT_FORMAT_ROWS, include_varieties=True
    )
    items = await exported_rows(stub, request)
    assert [i.commodity.name for i in items] == ["Cotton", "Jute"]
    assert [v.name for v in items[0].varieties] == ["Shankar-6", "Suvin"]
    data = await export_bytes(
        stub, filter="gst_rate >= 5", format=pb.EXPORT_FORMAT_CSV, include_varieties=True
    )
    assert {r["Name"]: r["Varieties"] for r in read_csv(data)} == {
        "Cotton": "Shankar-6;Suvin",
        "Jute": "",
    }
    bad = stub.ExportCommodities(pb.ExportCommoditiesRequest(filter="nonsense ="))
    await expect_failure(collect(bad), INVALID)


@pytest.fixture
async def small_chunks(database_url: str, db: Database) -> AsyncIterator[App]:
    settings = make_settings(database_url, export_chunk_bytes=1_000)
    app = build(settings, Database.connect(settings))
    await app.start()
    yield app
    await app.stop(0)


async def test_csv_chunks_concatenate_to_the_file(
    stub: Stub, small_chunks: App, db: Database
) -> None:
    names = [f"कपास {i:04d}" for i in range(300)]
    await import_file(stub, csv_data=csv_file(["name", "category"], [[n, "रेशा"] for n in names]))
    whole = await export_bytes(stub, format=pb.EXPORT_FORMAT_CSV)
    async with aio.insecure_channel(f"127.0.0.1:{small_chunks.port}") as channel:
        small = commodity_pb2_grpc.CommodityServiceStub(channel)
        request = pb.ExportCommoditiesRequest(format=pb.EXPORT_FORMAT_CSV)
        chunks = [item.chunk async for item in small.ExportCommodities(request)]
    assert len(chunks) > 10 and all(len(c) == 1_000 for c in chunks[:-1])
    assert b"".join(chunks) == whole
    assert [r["Name"] for r in read_csv(whole)] == names
    assert await commodity_count(db) == 300


async def test_xlsx_chunks_concatenate_to_the_workbook(
    stub: Stub, small_chunks: App, db: Database, loaded: int
) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{small_chunks.port}") as channel:
        small = commodity_pb2_grpc.CommodityServiceStub(channel)
        request = pb.ExportCommoditiesRequest(format=pb.EXPORT_FORMAT_XLSX)
        chunks = [item.chunk async for item in small.ExportCommodities(request)]
    assert len(chunks) > 3 and all(len(c) == 1_000 for c in chunks[:-1])
    sheet = load_workbook(io.BytesIO(b"".join(chunks)), read_only=True).worksheets[0]
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == ["Wheat", "Cotton", "Jute", "कपास"]


async def test_control_characters_export_to_xlsx_as_ooxml_escapes(stub: Stub, db: Database) -> None:
    """A worksheet cannot hold ESC and its kin: written as Excel writes them (_x001B_),
    not an INTERNAL error (the fuzz net found one)."""
    commodity = pb.Commodity(name="Traders\x1b", category="Fibre", description="bell\x07 tab\tend")
    await stub.CreateCommodity(pb.CreateCommodityRequest(commodity=commodity))
    data = await export_bytes(stub, format=pb.EXPORT_FORMAT_XLSX)
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    header, row = list(sheet.iter_rows(values_only=True))
    cells = dict(zip(header, row, strict=False))  # trailing empty cells are not read
    assert (cells["Name"], cells["Description"]) == ("Traders_x001B_", "bell_x0007_ tab\tend")
