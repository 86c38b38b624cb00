"""`import_commodities` / `export_commodities` on files, with progress callbacks, both clients."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from bulk_support import commodity_count, csv_file

from masterdata.client import Client, ExportProgress, ImportProgress, SyncClient
from masterdata.client.bulk import CHUNK_BYTES, CsvRowCounter
from masterdata.client.errors import InvalidArgumentError
from masterdata.server.app import App
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb

PAD = " ." * 30
HEADER = ["Name", "Category", "HSN Code", "GST Rate (%)", "Description"]


def row(i: int) -> list[str]:
    return [
        f"Commodity {i:05d}",
        f"Category {i % 3}",
        "52010010",
        "5",
        f"row {i}\nwith a break{PAD}",
    ]


@pytest.fixture
async def client(app: App, db: Database) -> AsyncIterator[Client]:
    async with Client(f"127.0.0.1:{app.port}") as client:
        yield client


async def test_import_a_csv_file_larger_than_a_chunk(
    client: Client, db: Database, tmp_path
) -> None:
    rows = [row(i) for i in range(3000)]
    rows[10][3] = "105"  # gst_rate out of range: row 12 as a spreadsheet shows it
    path = tmp_path / "commodities.csv"
    path.write_bytes(csv_file(HEADER, rows))
    assert path.stat().st_size > CHUNK_BYTES
    progress: list[ImportProgress] = []
    result = await client.import_commodities(path, batch_size=500, on_progress=progress.append)
    summary = result.summary
    assert (summary.rows_read, summary.created, summary.failed) == (3000, 2999, 1)
    assert summary.committed and not result.ok
    [error] = result.row_errors
    assert (error.row_number, error.field, error.reason) == (12, "gst_rate", "OUT_OF_RANGE")
    assert len(progress) >= 6, "a progress per batch and one for the summary"
    assert [p.rows_read for p in progress] == sorted(p.rows_read for p in progress)
    last = progress[-1]
    assert (last.rows_read, last.created, last.failed) == (3000, 2999, 1)
    assert last.bytes_sent == last.total_bytes == path.stat().st_size
    assert await commodity_count(db) == 2999


async def test_import_validate_only_messages_and_request_id(client: Client, db: Database) -> None:
    rows = [pb.Commodity(name=f"Pulse {i}", category="Pulses") for i in range(5)]
    dry = await client.import_commodities(rows, validate_only=True)
    assert (dry.summary.created, dry.summary.committed) == (5, False) and dry.ok
    assert await commodity_count(db) == 0
    done = await client.import_commodities(rows)
    assert done.summary.created == 5 and done.request_id
    retried = await client.import_commodities(rows, request_id=done.request_id)
    assert retried.summary == done.summary, "a retry with the request_id replays the summary"
    assert await commodity_count(db) == 5
    again = await client.import_commodities(rows, upsert=True)
    assert (again.summary.created, again.summary.unchanged) == (0, 5)


async def test_import_xlsx_goes_whole_through_import_commodities(
    client: Client, db: Database, tmp_path
) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    for i in range(4):
        sheet.append(row(i))
    path = tmp_path / "commodities.xlsx"
    workbook.save(path)
    progress: list[ImportProgress] = []
    result = await client.import_commodities(path, on_progress=progress.append)
    assert result.summary.created == 4 and result.ok
    assert progress[-1].total_bytes == path.stat().st_size


async def test_unknown_columns_are_reported_or_with_strict_refused(
    app: App, client: Client, db: Database, tmp_path: Path
) -> None:
    header = [*HEADER, "Varieties", "Colour"]
    data = csv_file(header, [[*row(i), "Desi;Kabuli", "red"] for i in range(3)])
    progress: list[ImportProgress] = []
    with pytest.raises(InvalidArgumentError) as refused:
        await client.import_commodities(data, strict=True)
    [violation] = refused.value.violations
    assert violation.reason == "UNKNOWN_COLUMN" and "Colour" in violation.description
    assert await commodity_count(db) == 0, "a strict import refused at its header writes nothing"

    result = await client.import_commodities(data, on_progress=progress.append)
    summary = result.summary
    assert (summary.created, summary.varieties_created) == (3, 6) and result.ok
    assert list(summary.ignored_columns) == ["Colour"]
    assert any("Colour" in warning for warning in summary.warnings)
    assert (progress[-1].varieties_created, progress[-1].varieties_updated) == (6, 0)

    path = tmp_path / "strict.csv"
    path.write_bytes(data)

    def strict_sync() -> None:
        with SyncClient(f"127.0.0.1:{app.port}") as sync:
            sync.import_commodities(path, upsert=True, strict=True)

    with pytest.raises(InvalidArgumentError):
        await asyncio.to_thread(strict_sync)


async def test_an_upload_refused_at_its_header_reports_why_while_the_file_streams(
    client: Client, db: Database
) -> None:
    """The server refuses at the first chunk while the client is still sending many:
    the caller sees INVALID_ARGUMENT naming the column, not grpc.aio's INTERNAL."""
    data = csv_file([*HEADER, "Colour"], [[*row(i), "red"] for i in range(20_000)])
    assert len(data) > 8 * CHUNK_BYTES
    with pytest.raises(InvalidArgumentError) as refused:
        await client.import_commodities(data, strict=True)
    assert [v.reason for v in refused.value.violations] == ["UNKNOWN_COLUMN"]
    assert await commodity_count(db) == 0


async def test_export_csv_xlsx_and_file_objects(client: Client, db: Database, tmp_path) -> None:
    await client.import_commodities(csv_file(HEADER, [row(i) for i in range(25)]))
    progress: list[ExportProgress] = []
    target = tmp_path / "out.csv"
    written = await client.export_commodities(target, on_progress=progress.append)
    assert written == 25 and progress and progress[-1].bytes_written == target.stat().st_size
    records = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert len(records) == 25 and records[0]["Description"].endswith("with a break" + PAD)
    buffer = io.BytesIO()
    assert await client.export_commodities(buffer, filter='category = "Category 1"') == 8
    assert await client.export_commodities(tmp_path / "out.xlsx", format="xlsx") == 25
    workbook = io.BytesIO()
    assert await client.export_commodities(workbook, format="xlsx") == 25
    assert workbook.getvalue().startswith(b"PK")  # a zip: the whole workbook
    with pytest.raises(ValueError):
        await client.export_commodities(buffer, format="pdf")  # type: ignore[arg-type]


async def test_sync_import_and_export(app: App, db: Database, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(csv_file(HEADER, [row(i) for i in range(7)]))

    def scenario() -> tuple[int, int, int]:
        with SyncClient(f"127.0.0.1:{app.port}") as client:
            seen: list[ImportProgress] = []
            result = client.import_commodities(source, batch_size=3, on_progress=seen.append)
            rows = client.export_commodities(tmp_path / "out.csv")
            return result.summary.created, len(seen), rows

    created, reports, exported = await asyncio.to_thread(scenario)
    assert (created, exported) == (7, 7) and reports >= 4


def test_csv_row_counter_handles_quotes_split_anywhere() -> None:
    data = csv_file(HEADER, [row(i) for i in range(5)] + [['say ""hi""', "x", "", "", ""]])
    for size in (1, 2, 7, len(data)):
        counter = CsvRowCounter()
        for start in range(0, len(data), size):
            counter.feed(data[start : start + size])
        assert counter.data_rows == 6
