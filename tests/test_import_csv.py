"""ImportCommodities from CSV through a real server, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import grpc
import pytest
from bulk_support import (
    Stub,
    commodities,
    commodity_count,
    csv_file,
    event_kinds,
    import_file,
)
from grpc import aio
from support import event_count, events, expect_failure, make_settings

from masterdata.server.app import App, build
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT
HEADER = [
    "Name",
    "Category",
    "HSN Code",
    "GST Rate (%)",
    "Trade Unit",
    "Standard Weight per Unit (kg)",
    "Default Currency",
    "Major Producing Countries",
    "Active",
    "Harvest Season (JSON)",
    "Description",
]


def good(i: int) -> list[str]:
    return [
        f"Commodity {i:05d}",
        f"Category {i % 7}",
        "52010010",
        "5",
        "BALE",
        "170",
        "INR",
        "IN;US",
        "yes",
        '{"India": {"start": "October"}}',
        f"row {i}",
    ]


def _set(column: int, value: str) -> Callable[[list[str], list[str]], None]:
    def apply(row: list[str], _previous: list[str]) -> None:
        row[column] = value

    return apply


def _duplicate(row: list[str], previous: list[str]) -> None:
    row[0], row[1] = previous[0].upper(), previous[1]  # names match case-insensitively


#: (field, reason, how the row is spoiled): ten kinds of bad rows.
BAD_KINDS = [
    ("gst_rate", "OUT_OF_RANGE", _set(3, "105")),
    ("hsn_code", "INVALID_HSN_CODE", _set(2, "12AB")),
    ("trade_unit", "UNKNOWN_UNIT", _set(4, "FURLONG")),
    ("name", "REQUIRED", _set(0, "")),
    ("standard_weight_per_unit", "INVALID_DECIMAL", _set(5, "abc")),
    ("name", "DUPLICATE_IN_FILE", _duplicate),
    ("harvest_season", "INVALID_JSON", _set(9, "{oops")),
    ("is_active", "INVALID_BOOLEAN", _set(8, "maybe")),
    ("default_currency", "INVALID_CURRENCY", _set(6, "XYZ")),
    ("major_producing_countries", "INVALID_COUNTRY", _set(7, "IN;ZZ")),
]
BAD_OFFSETS = {7: 0, 37: 1, 67: 2}


def spoiled_file(total: int) -> tuple[bytes, set[tuple[int, str, str]]]:
    """`total` rows, 3 in every 100 bad (ten kinds in turn); expected (row, field, reason)."""
    rows, expected = [], set()
    for i in range(total):
        row = good(i)
        if i % 100 in BAD_OFFSETS:
            field, reason, spoil = BAD_KINDS[(i // 100 * 3 + BAD_OFFSETS[i % 100]) % 10]
            spoil(row, rows[-1])
            expected.add((i + 2, field, reason))  # the header is row 1
        rows.append(row)
    return csv_file(HEADER, rows), expected


@pytest.fixture
def stub(channel: aio.Channel) -> Stub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


def imported_rows(app: App, outcome: str) -> float:
    """masterdata_import_rows_total{outcome} so far (the server lives for the session)."""
    value = app.metrics.registry.get_sample_value(
        "masterdata_import_rows_total", {"outcome": outcome}
    )
    return value or 0.0


async def test_ten_thousand_rows_with_three_percent_bad(stub: Stub, db: Database, app: App) -> None:
    data, expected = spoiled_file(10_000)
    before = {o: imported_rows(app, o) for o in ("created", "failed")}
    result = await import_file(stub, csv_data=data)
    assert imported_rows(app, "created") - before["created"] == 9_700
    assert imported_rows(app, "failed") - before["failed"] == 300
    assert result.counts() == (10_000, 9_700, 0, 0, 300)
    assert result.summary.committed and result.summary.duration.ToNanoseconds() > 0
    assert result.error_keys == expected
    assert {k[2] for k in result.error_keys} == {reason for _, reason, _ in BAD_KINDS}
    assert [p.rows_read for p in result.progress] == list(range(500, 10_001, 500))
    assert await commodity_count(db) == 9_700
    assert await event_kinds(db) == {("commodity.created", 1): 9_700}
    stored = (await commodities(db))["Commodity 00001"]
    assert (stored.hsn_code, stored.gst_rate, stored.trade_unit) == (
        "52010010",
        Decimal("5.00"),
        "BALE",
    )
    assert stored.harvest_season == {"India": {"start": "October"}}


async def test_atomic_import_with_one_bad_row_writes_nothing(stub: Stub, db: Database) -> None:
    rows = [good(i) for i in range(50)]
    rows[38][3] = "101"
    result = await import_file(stub, csv_data=csv_file(HEADER, rows), atomic=True, batch_size=10)
    assert result.error_keys == {(40, "gst_rate", "OUT_OF_RANGE")}
    assert result.counts() == (50, 49, 0, 0, 1) and not result.summary.committed
    assert await commodity_count(db) == 0
    assert await event_count(db) == 0


async def test_validate_only_checks_everything_and_writes_nothing(stub: Stub, db: Database) -> None:
    existing = pb.Commodity(name="commodity 00010", category="Category 3")
    await stub.CreateCommodity(pb.CreateCommodityRequest(commodity=existing))
    rows = [good(i) for i in range(200)]
    rows[5][2] = "5X"
    result = await import_file(stub, csv_data=csv_file(HEADER, rows), validate_only=True)
    assert result.error_keys == {
        (7, "hsn_code", "INVALID_HSN_CODE"),
        (12, "name", "DUPLICATE_NAME"),
    }
    assert result.counts() == (200, 198, 0, 0, 2) and not result.summary.committed
    assert await commodity_count(db) == 1
    assert await event_count(db) == 1


async def test_upsert_matches_by_name_and_records_updates(stub: Stub, db: Database) -> None:
    rows = [good(i) for i in range(20)]
    await import_file(stub, csv_data=csv_file(HEADER, rows))
    rows[3][3], rows[4][10] = "12", "changed"
    rows[5][0] = rows[5][0].lower()  # the name's case changes: an update, not a new row
    rows.append(good(20))
    result = await import_file(stub, csv_data=csv_file(HEADER, rows), mode=pb.IMPORT_MODE_UPSERT)
    assert result.counts() == (21, 1, 3, 17, 0)
    updates = await events(db, event_type="commodity.updated")
    assert sorted(tuple(e.changed_fields) for e in updates) == [
        ("description",),
        ("gst_rate",),
        ("name",),
    ]
    assert {e.aggregate_version for e in updates} == {2}
    assert await commodity_count(db) == 21


@pytest.mark.parametrize("mode", [pb.IMPORT_MODE_CREATE_ONLY, pb.IMPORT_MODE_UPSERT])
async def test_duplicates_across_batches_are_duplicates_in_the_file(
    stub: Stub, db: Database, mode: int
) -> None:
    rows = [good(i) for i in range(5)] + [good(1)]
    result = await import_file(stub, csv_data=csv_file(HEADER, rows), batch_size=2, mode=mode)
    assert result.error_keys == {(7, "name", "DUPLICATE_IN_FILE")}
    assert result.counts() == (6, 5, 0, 0, 1)


async def test_concurrent_upserts_of_the_same_rows_write_each_row_once(
    stub: Stub, db: Database
) -> None:
    """Two imports race over the same rows, batch after batch (on PostgreSQL each also
    overlaps its own commits with its next batch): every row is created once, and
    every change either import reports is one event."""
    rows = [good(i) for i in range(600)]
    data = csv_file(HEADER, rows)
    first, second = await asyncio.gather(
        *(
            import_file(stub, csv_data=data, batch_size=50, mode=pb.IMPORT_MODE_UPSERT)
            for _ in range(2)
        )
    )
    assert await commodity_count(db) == 600
    assert first.summary.created + second.summary.created == 600
    for result in (first, second):
        # a row the other import created between this batch's lookup and its write
        assert {(field, reason) for _, field, reason in result.error_keys} <= {
            ("name", "DUPLICATE_NAME")
        }
        assert result.summary.rows_read == 600 and result.summary.committed
    changes = sum(r.summary.created + r.summary.updated for r in (first, second))
    assert await event_count(db) == changes


async def test_create_only_and_upsert_by_id_refusals(stub: Stub, db: Database) -> None:
    await import_file(stub, csv_data=csv_file(HEADER, [good(1)]))
    again = await import_file(stub, csv_data=csv_file(HEADER, [good(1)]))
    assert again.error_keys == {(2, "name", "DUPLICATE_NAME")}
    header = ["ID", *HEADER]
    unknown = csv_file(header, [[str(uuid.uuid4()), *good(2)], ["not-an-id", *good(3)]])
    result = await import_file(stub, csv_data=unknown, mode=pb.IMPORT_MODE_UPSERT)
    assert result.error_keys == {(2, "id", "NOT_FOUND"), (3, "id", "INVALID_ID")}


async def test_a_messy_real_world_csv(stub: Stub, db: Database) -> None:
    data = (
        "\ufeff Commodity Name ,category,HSN,GST Rate (%),Active,Notes,trade unit,"
        "standard weight per unit,Description,supported currencies,Harvest Season (JSON)\r\n"
        'Cotton,Fibre,5201.0,5%,Yes,ignored,bale,170,"Raw cotton, ginned\r\n""Shankar-6"" '
        'grade",INR; usd,"{""India"": {""start"": ""October""}}"\r\n'
        "Milk Powder,Dairy,401,18,no,,,,,,\r\n"
        "# a comment row,,,,,,,,,,\r\n"
        "\r\n"
        ",,,,,,,,,,\r\n"
        ",,,,,,,,,,\r\n"
    ).encode()
    result = await import_file(stub, csv_data=data)
    assert result.counts() == (2, 2, 0, 0, 0), result.errors
    stored = await commodities(db)
    cotton, milk = stored["Cotton"], stored["Milk Powder"]
    assert (cotton.hsn_code, cotton.gst_rate, cotton.is_active) == ("5201", Decimal("5.00"), True)
    assert (cotton.trade_unit, cotton.standard_weight_per_unit) == ("BALE", Decimal("170"))
    assert cotton.description == 'Raw cotton, ginned\r\n"Shankar-6" grade'
    assert cotton.supported_currencies == ["INR", "USD"]
    assert cotton.harvest_season == {"India": {"start": "October"}}
    assert (milk.hsn_code, milk.gst_rate, milk.is_active) == ("0401", Decimal("18.00"), False)


@pytest.mark.parametrize("delimiter", [";", "\t"])
async def test_semicolon_and_tab_separated_files(stub: Stub, db: Database, delimiter: str) -> None:
    header = ["Name", "Category", "Description", "Supported Currencies", "GST Rate (%)"]
    rows = [
        ["Cotton", "Fibre", "Raw, ginned; baled", "INR;USD", "5"],
        ["Wheat", "Cereals", 'Durum "A", not; B', "", "0"],
    ]
    data = csv_file(header, rows, newline="\r\n", delimiter=delimiter)
    result = await import_file(stub, csv_data=b"\xef\xbb\xbf" + data)
    assert result.counts() == (2, 2, 0, 0, 0), result.errors
    stored = await commodities(db)
    assert stored["Cotton"].description == "Raw, ginned; baled"
    assert stored["Cotton"].supported_currencies == ["INR", "USD"]
    assert stored["Wheat"].description == 'Durum "A", not; B'
    assert stored["Wheat"].gst_rate == Decimal("0.00")


async def test_utf8_without_bom_keeps_hindi_names_exactly(stub: Stub, db: Database) -> None:
    names = ["कपास", "गेहूँ", "चना दाल", "सरसों"]
    data = csv_file(["name", "category"], [[n, "अनाज"] for n in names])
    assert not data.startswith(b"\xef\xbb\xbf")
    result = await import_file(stub, csv_data=data)
    assert result.counts() == (4, 4, 0, 0, 0)
    stored = await commodities(db)
    assert sorted(stored) == sorted(names)
    assert {row.category for row in stored.values()} == {"अनाज"}
    fetched = await stub.GetCommodity(pb.GetCommodityRequest(id=str(stored["गेहूँ"].id)))
    assert fetched.commodity.name == "गेहूँ"


async def test_rows_as_messages(stub: Stub, db: Database) -> None:
    rows = pb.CommodityRows(
        commodities=[
            pb.Commodity(name="Jute", category="Fibre", gst_rate="5", trade_unit="bale"),
            pb.Commodity(name="Bad", category="Fibre", gst_rate="x"),
        ]
    )
    result = await import_file(stub, rows=rows)
    assert result.error_keys == {(2, "gst_rate", "INVALID_DECIMAL")}
    assert result.counts() == (2, 1, 0, 0, 1)


async def test_a_retried_import_with_a_request_id_does_nothing_twice(
    stub: Stub, db: Database
) -> None:
    request_id = str(uuid.uuid4())
    data = csv_file(HEADER, [good(i) for i in range(30)])
    first = await import_file(stub, csv_data=data, request_id=request_id, batch_size=7)
    second = await import_file(stub, csv_data=data, request_id=request_id, batch_size=7)
    assert first.counts() == (30, 30, 0, 0, 0)
    assert second.summary == first.summary and not second.errors
    assert await event_count(db) == 30
    atomic_id = str(uuid.uuid4())
    more = csv_file(HEADER, [good(i) for i in range(30, 40)])
    once = await import_file(stub, csv_data=more, request_id=atomic_id, atomic=True)
    twice = await import_file(stub, csv_data=more, request_id=atomic_id, atomic=True)
    assert twice.summary == once.summary and once.summary.created == 10
    assert await event_count(db) == 40
    changed = import_file(stub, csv_data=more, request_id=request_id, batch_size=7)
    failure = await expect_failure(changed, INVALID)
    assert failure.reason == "REQUEST_ID_REUSED"


async def test_malformed_requests_are_invalid_argument(stub: Stub, db: Database) -> None:
    cases = [
        (pb.ImportCommoditiesRequest(), "source", "REQUIRED"),
        (pb.ImportCommoditiesRequest(csv_data=b"Name,HSN\nx,52\n"), "csv_data", "MISSING_COLUMN"),
        (pb.ImportCommoditiesRequest(csv_data=b""), "csv_data", "EMPTY_FILE"),
        (
            pb.ImportCommoditiesRequest(csv_data="name,category\nCafé,X\n".encode("cp1252")),
            "csv_data",
            "NOT_UTF8",
        ),
        (pb.ImportCommoditiesRequest(csv_data=b"name,category\n", mode=7), "mode", "INVALID_ENUM"),
        (
            pb.ImportCommoditiesRequest(csv_data=b"name,category\n", batch_size=-1),
            "batch_size",
            "OUT_OF_RANGE",
        ),
    ]
    for request, field, reason in cases:
        failure = await expect_failure(_drain(stub.ImportCommodities(request)), INVALID)
        assert (field, reason) in {(f, failure.reason) for f in failure.fields}, failure
    assert await commodity_count(db) == 0


async def _drain(stream: AsyncIterator[object]) -> None:
    async for _ in stream:
        pass


@pytest.fixture
async def small_server(database_url: str, db: Database) -> AsyncIterator[App]:
    """A second server on the same database with tiny import limits."""
    settings = make_settings(database_url, max_import_bytes=2_000, max_import_rows=20)
    app = build(settings, Database.connect(settings))
    await app.start()
    yield app
    await app.stop(0)


async def test_an_oversized_import_is_refused_before_anything_is_written(
    small_server: App, db: Database
) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{small_server.port}") as channel:
        stub = commodity_pb2_grpc.CommodityServiceStub(channel)
        big = csv_file(HEADER, [good(i) for i in range(40)])
        assert len(big) > 2_000
        failure = await expect_failure(
            _drain(stub.ImportCommodities(pb.ImportCommoditiesRequest(csv_data=big))), INVALID
        )
        assert failure.reason == "TOO_LARGE" and failure.metadata == {"max_bytes": "2000"}
        assert "csv_data" in failure.violations
        many = csv_file(["name", "category"], [[f"c{i}", "x"] for i in range(21)])
        failure = await expect_failure(
            _drain(stub.ImportCommodities(pb.ImportCommoditiesRequest(csv_data=many))), INVALID
        )
        assert failure.reason == "TOO_MANY_ROWS"
        rows = pb.CommodityRows(
            commodities=[pb.Commodity(name=f"c{i}", category="x") for i in range(21)]
        )
        failure = await expect_failure(
            _drain(stub.ImportCommodities(pb.ImportCommoditiesRequest(rows=rows))), INVALID
        )
        assert failure.reason == "TOO_MANY_ROWS"
    assert await commodity_count(db) == 0
    assert await event_count(db) == 0
