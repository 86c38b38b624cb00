"""Bulk import parsing without I/O: CSV pieces, headers, cells, XLSX values, event messages."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf import json_format, struct_pb2

from masterdata.server.bulk.candidates import DEFAULTS, WRITABLE, FileConverter, finalise
from masterdata.server.bulk.cells import CellError, format_cell, parser_for
from masterdata.server.bulk.columns import BY_FIELD, COLUMNS, resolve_header
from masterdata.server.bulk.csv_input import CsvRecords
from masterdata.server.bulk.importer import prefetch
from masterdata.server.bulk.messages import MessageBuilder
from masterdata.server.bulk.sources import FileRow
from masterdata.server.bulk.xlsx_input import cell_text
from masterdata.server.domain.errors import InvalidArgument
from masterdata.server.families.commodities.specs import COMMODITY
from masterdata.server.resources.codec import codec_for

MESSY = (
    '\ufeffName,"Category",Description\r\n'
    'Cotton,Fibre,"Raw, ginned\r\ncotton ""Shankar-6"""\r\n'
    "\r\n"
    "कपास,रेशा,देसी\r\n"
)


def records(data: bytes, piece: int) -> list[list[str]]:
    reader = CsvRecords("csv_data")
    found: list[list[str]] = []
    for start in range(0, len(data), piece):
        found.extend(reader.feed(data[start : start + piece]))
    return found + reader.finish()


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 1 << 20])
def test_csv_pieces_split_anywhere_give_the_same_records(piece: int) -> None:
    data = MESSY.encode()
    assert records(data, piece) == [
        ["Name", "Category", "Description"],
        ["Cotton", "Fibre", 'Raw, ginned\r\ncotton "Shankar-6"'],
        [],
        ["कपास", "रेशा", "देसी"],
    ]


def test_csv_without_final_newline_and_with_lf_only() -> None:
    assert records(b"a,b\nc,d", 3) == [["a", "b"], ["c", "d"]]


@pytest.mark.parametrize("piece", [1, 5, 1 << 20])
def test_csv_delimiter_is_sniffed_from_the_header_line(piece: int) -> None:
    data = b'\r\n"Name, full";Category;Notes\r\n"a;b";c,d;"e\r\nf"\r\n'
    assert records(data, piece) == [
        [],
        ["Name, full", "Category", "Notes"],
        ["a;b", "c,d", "e\r\nf"],
    ]
    assert records(b"Name\tCategory\nx;y\tz", piece) == [["Name", "Category"], ["x;y", "z"]]
    assert records(b"Name,Category;x\n", piece) == [["Name", "Category;x"]]  # a tie: comma


def test_csv_not_utf8_is_invalid_argument_with_the_offset() -> None:
    with pytest.raises(InvalidArgument) as raised:
        records("Name,Category\nCaf\u00e9,X\n".encode("latin-1"), 5)
    [violation] = raised.value.violations
    assert violation.reason == "NOT_UTF8" and "offset 17" in violation.description


def test_csv_unterminated_quote_is_bounded() -> None:
    reader = CsvRecords("csv_chunk", max_record_chars=100)
    reader.feed(b'a,"never closed\n')
    with pytest.raises(InvalidArgument) as raised:
        for _ in range(10):
            reader.feed(b"x" * 30 + b"\n")
    assert raised.value.violations[0].reason == "RECORD_TOO_LONG"


def test_header_any_case_any_order_names_and_aliases() -> None:
    header = resolve_header(
        ["  category ", "HSN", "gst_rate", "Notes", "NAME", "Standard Weight per Unit (kg)"],
        "csv_data",
    )
    assert {c.field: i for i, c in header.positions} == {
        "category": 0,
        "hsn_code": 1,
        "gst_rate": 2,
        "name": 4,
        "standard_weight_per_unit": 5,
    }


def test_header_problems_are_all_reported() -> None:
    with pytest.raises(InvalidArgument) as raised:
        resolve_header(["Name", "name", "HSN Code"], "csv_data")
    assert {v.reason for v in raised.value.violations} == {"DUPLICATE_COLUMN", "MISSING_COLUMN"}


def parse(field: str, text: str) -> Any:
    return parser_for(BY_FIELD[field])(text)


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("5201.0", "5201"),
        ("52010010.0", "52010010"),
        ("5.201001E+7", "52010010"),
        ("401", "0401"),  # Excel dropped the leading zero of chapter 04
        ("0401", "0401"),
        (" 52 ", "52"),
        ("12AB", "12AB"),  # left to the validator (INVALID_HSN_CODE)
    ],
)
def test_codes_excel_made_numbers_of(text: str, stored: str) -> None:
    assert parse("hsn_code", text) == stored


def test_decimals() -> None:
    assert parse("gst_rate", "5") == Decimal("5.00")
    assert parse("gst_rate", " 18% ") == Decimal("18.00")
    assert parse("gst_rate", "5.000000000000001") == Decimal("5.00")  # float noise
    assert parse("gst_rate", "") is None
    for bad, reason in (("5.123", "INVALID_DECIMAL"), ("abc", "INVALID_DECIMAL")):
        with pytest.raises(CellError) as raised:
            parse("gst_rate", bad)
        assert raised.value.reason == reason
    assert parse("standard_weight_per_unit", "170") == Decimal("170.000000")


def test_booleans_enums_integers_lists() -> None:
    assert [parse("fumigation_required", t) for t in ("Yes", "no", "TRUE", "0", "")] == [
        True,
        False,
        True,
        False,
        False,
    ]
    assert parse("is_active", "") is True
    assert parse("price_volatility", "very high") == "PRICE_VOLATILITY_VERY_HIGH"
    assert parse("price_volatility", "PRICE_VOLATILITY_LOW") == "PRICE_VOLATILITY_LOW"
    assert parse("price_volatility", "") == "PRICE_VOLATILITY_UNSPECIFIED"
    assert parse("shelf_life_days", "365.0") == 365
    assert parse("supported_currencies", "inr, USD;eur") == ["inr", "USD", "eur"]
    assert parse("trading_hubs", "Rajkot; Adoni, AP") == ["Rajkot", "Adoni, AP"]
    for field, text, reason in (
        ("fumigation_required", "maybe", "INVALID_BOOLEAN"),
        ("price_volatility", "wild", "INVALID_ENUM"),
        ("shelf_life_days", "1.5", "INVALID_INTEGER"),
        ("harvest_season", "[1]", "INVALID_JSON"),
        ("harvest_season", "{oops", "INVALID_JSON"),
        ("id", "not-a-uuid", "INVALID_ID"),
        ("name", "x" * 201, "TOO_LONG"),
    ):
        with pytest.raises(CellError) as raised:
            parse(field, text)
        assert raised.value.reason == reason, field


@pytest.mark.parametrize(
    "document",
    ['{"a": 8, "b": [1, 2.5, null, true, {"c": "x"}], "d": {}}', '{"n": 1e300, "k": -0}'],
)
def test_json_cells_equal_a_round_trip_through_struct(document: str) -> None:
    struct = struct_pb2.Struct()
    struct.update(json.loads(document))
    expected = json_format.MessageToDict(struct, preserving_proto_field_name=True)
    assert parse("harvest_season", document) == expected


def test_xlsx_cell_values_become_csv_texts() -> None:
    assert [cell_text(v) for v in (5201.0, 5.5, 7, True, None, "कपास", 1e20)] == [
        "5201",
        "5.5",
        "7",
        "true",
        "",
        "कपास",
        "1e+20",
    ]


def full_row(**values: Any) -> dict[str, Any]:
    now = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    final = finalise(2, DEFAULTS | values)
    assert isinstance(final, dict), final
    return final | {
        "id": uuid.uuid4(),
        "create_time": now,
        "update_time": now,
        "delete_time": None,
        "created_by": "alice",
        "updated_by": "bob",
        "revision": 3,
    }


@pytest.mark.parametrize(
    "values",
    [
        {"name": "Cotton", "category": "Fibre"},
        {
            "name": "कपास",
            "category": "Fibre",
            "gst_rate": Decimal("5.00"),
            "shelf_life_days": 0,
            "is_active": False,
            "price_volatility": "PRICE_VOLATILITY_HIGH",
            "supported_currencies": ["INR", "USD"],
            "harvest_season": {"India": {"start": "October", "n": 3.0}},
            "storage_conditions": {},
            "standard_weight_per_unit": Decimal("170.000000"),
            "trade_unit": "BALE",
        },
    ],
)
def test_event_messages_equal_the_codecs(values: dict[str, Any]) -> None:
    row = full_row(**values)
    expected = codec_for(COMMODITY).to_message(SimpleNamespace(**row), reveal=True)
    assert MessageBuilder(COMMODITY).build(row) == expected


def test_export_cells_import_back_to_the_same_values() -> None:
    row = full_row(
        name="Wheat, durum",
        category="Cereals",
        hsn_code="10011900",
        gst_rate=Decimal("0.00"),
        quality_standards=["ISO 7970", "FAO"],
        price_volatility="PRICE_VOLATILITY_MEDIUM",
        contract_specifications={"basis": "FAQ", "lot": 10.0},
    )
    out = io.StringIO()
    csv.writer(out).writerow([format_cell(c.kind, row.get(c.field)) for c in COLUMNS])
    cells = next(csv.reader(io.StringIO(out.getvalue())))
    header = resolve_header([c.header for c in COLUMNS], "csv_data")
    candidate = FileConverter(header).convert(FileRow(2, cells))
    assert not isinstance(candidate, type(None))
    final = finalise(2, DEFAULTS | candidate.values)  # type: ignore[union-attr]
    assert isinstance(final, dict)
    assert {f: final[f] for f in WRITABLE} == {f: row[f] for f in WRITABLE}
    assert candidate.id == row["id"]  # type: ignore[union-attr]


async def test_prefetch_passes_items_errors_and_stops_its_source() -> None:
    produced: list[int] = []
    stopped = asyncio.Event()

    async def source(fail_at: int | None) -> AsyncIterator[int]:
        try:
            for i in range(100):
                if i == fail_at:
                    raise InvalidArgument("bad input")
                produced.append(i)
                yield i
        finally:
            stopped.set()

    assert [i async for i in prefetch(source(None))] == list(range(100))
    with pytest.raises(InvalidArgument):
        async for _ in prefetch(source(5)):
            pass
    produced.clear()
    stopped.clear()
    consumer = prefetch(source(None), depth=2)
    assert await anext(consumer) == 0
    await consumer.aclose()
    await asyncio.wait_for(stopped.wait(), 1)
    assert len(produced) <= 4  # read-ahead is bounded by depth
