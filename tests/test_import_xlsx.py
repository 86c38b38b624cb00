"""ImportCommodities from XLSX, and GetImportTemplate, on both backends."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from typing import Any

import grpc
import pytest
from bomb_support import peak_memory_growth, workbook_bomb
from bulk_support import Stub, collect, commodities, commodity_count, import_file
from grpc import aio
from openpyxl import Workbook, load_workbook
from support import event_count, expect_failure

from masterdata.server.bulk.zip_bounds import check_expansion
from masterdata.server.config import Settings
from masterdata.server.domain.errors import InvalidArgument
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture
def stub(channel: aio.Channel) -> Stub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


def workbook(rows: list[list[Any]], *, trailing_formatted_rows: int = 0) -> bytes:
    """A workbook as Excel saves it: numbers as floats, an extra sheet after the data."""
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    for offset in range(trailing_formatted_rows):
        # Formatted but empty rows, as a sheet keeps after rows were deleted.
        sheet.cell(row=len(rows) + 1 + offset, column=1).number_format = "@"
    book.create_sheet("Notes").append(["ignored", "sheet"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_an_xlsx_saved_with_floats(stub: Stub, db: Database) -> None:
    data = workbook(
        [
            [
                "NAME",
                "category",
                "HSN Code",
                "GST Rate (%)",
                "Shelf Life (days)",
                "Active",
                "hs_code_6digit",
            ],
            ["Cotton", "Fibre", 52010010.0, 5.0, 365.0, True, 520100.0],
            ["Milk Powder", "Dairy", 401.0, 18, None, False, None],
            [None, None, None, None, None, None, None],
            ["Chana", "Pulses", 7132010.0, 0.0, 180, "yes", 71320.0],
        ],
        trailing_formatted_rows=5,
    )
    result = await import_file(stub, xlsx_data=data)
    assert result.counts() == (3, 3, 0, 0, 0), result.errors
    stored = await commodities(db)
    cotton, milk, chana = stored["Cotton"], stored["Milk Powder"], stored["Chana"]
    assert (cotton.hsn_code, cotton.hs_code_6digit, cotton.gst_rate) == (
        "52010010",
        "520100",
        Decimal("5.00"),
    )
    assert (cotton.shelf_life_days, cotton.is_active) == (365, True)
    assert (milk.hsn_code, milk.gst_rate, milk.is_active) == ("0401", Decimal("18.00"), False)
    assert (chana.hsn_code, chana.hs_code_6digit, chana.shelf_life_days) == (
        "07132010",
        "071320",
        180,
    )
    assert await event_count(db) == 3


async def test_xlsx_row_numbers_are_the_sheet_rows(stub: Stub, db: Database) -> None:
    data = workbook(
        [
            ["Name", "Category", "GST Rate (%)"],
            ["गेहूँ", "अनाज", 5],
            [None, None, None],
            ["सरसों", "तिलहन", 150],
            ["चना", "दलहन", "five"],
        ]
    )
    result = await import_file(stub, xlsx_data=data)
    assert result.error_keys == {
        (4, "gst_rate", "OUT_OF_RANGE"),
        (5, "gst_rate", "INVALID_DECIMAL"),
    }
    assert result.counts() == (3, 1, 0, 0, 2)
    assert set(await commodities(db)) == {"गेहूँ"}


@pytest.mark.parametrize(
    "data", [b"not a workbook", b"PK\x03\x04 truncated zip", b"name,category\nCotton,Fibre\n"]
)
async def test_an_unreadable_workbook_is_invalid_argument(
    stub: Stub, db: Database, data: bytes
) -> None:
    call = stub.ImportCommodities(pb.ImportCommoditiesRequest(xlsx_data=data))
    failure = await expect_failure(collect(call), INVALID)
    assert failure.reason == "UNREADABLE_FILE" and "xlsx_data" in failure.fields
    assert await commodity_count(db) == 0


async def test_a_workbook_without_the_required_columns(stub: Stub, db: Database) -> None:
    call = stub.ImportCommodities(
        pb.ImportCommoditiesRequest(xlsx_data=workbook([["Name", "HSN"], ["Cotton", 5201]]))
    )
    failure = await expect_failure(collect(call), INVALID)
    assert failure.reason == "MISSING_COLUMN"
    assert await commodity_count(db) == 0


async def test_the_xlsx_template_has_instructions_and_imports_as_is(
    stub: Stub, db: Database
) -> None:
    reply = await stub.GetImportTemplate(pb.GetImportTemplateRequest(format=pb.FILE_FORMAT_XLSX))
    assert reply.filename.endswith(".xlsx") and "spreadsheetml" in reply.content_type
    book = load_workbook(io.BytesIO(reply.content))
    assert book.sheetnames == ["Commodities", "Instructions"]
    header = [c.value for c in book["Commodities"][1]]
    assert header[:3] == ["ID", "Name", "Category"]
    assert book["Instructions"].max_row > len(header)
    result = await import_file(stub, xlsx_data=reply.content)
    assert result.counts() == (1, 1, 0, 0, 0), result.errors
    assert (await commodities(db))["Cotton"].trade_unit == "CANDY"


async def test_the_csv_template_imports_as_is(stub: Stub, db: Database) -> None:
    reply = await stub.GetImportTemplate(pb.GetImportTemplateRequest())
    assert (reply.filename, reply.content_type) == ("commodities_template.csv", "text/csv")
    lines = reply.content.decode().splitlines()
    assert lines[0].startswith("ID,Name,Category,HSN Code")
    assert lines[1].startswith(",Cotton,Fibre,52010010")
    assert all(line.startswith(("#", '"#')) for line in lines[2:]) and len(lines) > 30
    result = await import_file(stub, csv_data=reply.content)
    assert result.counts() == (1, 1, 0, 0, 0), result.errors
    cotton = (await commodities(db))["Cotton"]
    assert cotton.harvest_season == {"India": {"start": "October", "end": "March"}}
    assert cotton.supported_currencies == ["INR", "USD"]


# ---- zip bombs: refused before they expand, in bounded memory ------------------

#: How far the server's peak memory may rise while refusing a bomb (it holds ~250 KB).
BOMB_MEMORY_MIB = 40


@pytest.fixture(scope="module")
def sheet_bomb() -> bytes:
    """A workbook of ~250 KB whose sheet is one 256 MiB cell."""
    return workbook_bomb()


@pytest.fixture(scope="module")
def lying_bomb() -> bytes:
    """A 256 MiB workbook.xml (read whole by openpyxl) that the ZIP says is 100 bytes."""
    return workbook_bomb("xl/workbook.xml", lie=True)


async def test_a_zip_bomb_is_refused_before_it_expands(
    stub: Stub, db: Database, sheet_bomb: bytes
) -> None:
    assert len(sheet_bomb) < 512 * 1024
    with peak_memory_growth() as growth:
        call = stub.ImportCommodities(pb.ImportCommoditiesRequest(xlsx_data=sheet_bomb))
        failure = await expect_failure(collect(call), INVALID)
    assert growth[0] < BOMB_MEMORY_MIB, f"the server's memory rose {growth[0]:.0f} MiB"
    assert failure.violations.keys() == {"xlsx_data"}
    assert failure.reason == "XLSX_TOO_LARGE", failure
    assert await commodity_count(db) == 0


async def test_a_zip_that_lies_about_its_sizes_is_not_believed(
    stub: Stub, db: Database, lying_bomb: bytes
) -> None:
    with peak_memory_growth() as growth:
        call = stub.ImportCommodities(pb.ImportCommoditiesRequest(xlsx_data=lying_bomb))
        failure = await expect_failure(collect(call), INVALID)
    assert growth[0] < BOMB_MEMORY_MIB, f"the server's memory rose {growth[0]:.0f} MiB"
    assert failure.reason == "UNREADABLE_FILE" and "longer than declared" in failure.message
    assert await commodity_count(db) == 0


def test_the_expansion_bound_counts_every_part() -> None:
    data = workbook([["Name", "Category"], *([f"Bale {i}", "Fibre"] for i in range(2000))])
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        expanded = sum(info.file_size for info in archive.infolist())
    check_expansion(data, expanded, "xlsx_data")
    with pytest.raises(InvalidArgument) as refused:
        check_expansion(data, expanded - 1, "xlsx_data")
    assert refused.value.violations[0].reason == "XLSX_TOO_LARGE"
    # The default bound follows the message limit, and can be set on its own.
    assert Settings().xlsx_expanded_limit == 8 * Settings().max_message_bytes
    assert Settings.load({"MASTERDATA_MAX_XLSX_EXPANDED_BYTES": "1000"}).xlsx_expanded_limit == 1000
