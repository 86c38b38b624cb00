"""UploadCommodities (bidirectional) and cancelled imports, on both backends."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import grpc
import pytest
from bomb_support import peak_memory_growth, workbook_bomb
from bulk_support import (
    Stub,
    collect,
    commodity_count,
    csv_file,
    event_kinds,
    import_file,
)
from grpc import aio
from support import event_count, expect_failure

from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT
#: Below grpc's default 4 MiB message limit, and odd, so chunks split UTF-8 characters.
CHUNK = 3 * 1024 * 1024 + 7
UP = pb.UploadCommoditiesRequest
DESCRIPTION = "कपास की गांठ, " * 140  # 1,960 characters, 5 KiB of UTF-8


@pytest.fixture
def stub(channel: aio.Channel) -> Stub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


def upload_of(options: pb.ImportOptions, data: bytes, chunk: int = CHUNK) -> Iterator[UP]:
    yield UP(options=options)
    for start in range(0, len(data), chunk):
        yield UP(csv_chunk=data[start : start + chunk])


def big_file(size: int) -> tuple[bytes, int]:
    """A CSV of at least `size` bytes of 5 KiB rows; returns it and its row count."""
    header = ["Name", "Category", "Description", "HSN Code", "GST Rate (%)"]

    def row(i: int) -> list[str]:
        return [f"Bale {i:06d}", "Fibre", DESCRIPTION, "52010010", "5"]

    count = size // (len(csv_file([], [row(0)])) - 1) + 1
    return csv_file(header, (row(i) for i in range(count)), newline="\r\n"), count


async def test_a_30_mb_upload_in_chunks_below_the_message_limit(stub: Stub, db: Database) -> None:
    data, rows = big_file(30 * 1024 * 1024)
    assert len(data) > 30 * 1024 * 1024
    options = pb.ImportOptions(batch_size=1000)
    result = await collect(stub.UploadCommodities(upload_of(options, data)))
    assert result.counts() == (rows, rows, 0, 0, 0), result.errors[:3]
    assert len(result.progress) == -(-rows // 1000)
    assert await commodity_count(db) == rows
    assert await event_kinds(db) == {("commodity.created", 1): rows}
    found = await stub.ListCommodities(pb.ListCommoditiesRequest(page_size=1))
    assert found.commodities[0].description == DESCRIPTION.strip()


async def test_rows_messages_are_numbered_across_messages(stub: Stub, db: Database) -> None:
    def batches() -> Iterator[UP]:
        yield UP(options=pb.ImportOptions(mode=pb.IMPORT_MODE_UPSERT, batch_size=3))
        for start in range(0, 10, 4):
            commodities = [
                pb.Commodity(name=f"Row {i}", category="Pulses", gst_rate="5" if i != 6 else "-1")
                for i in range(start, min(start + 4, 10))
            ]
            yield UP(rows=pb.CommodityRows(commodities=commodities))

    result = await collect(stub.UploadCommodities(batches()))
    assert result.error_keys == {(7, "gst_rate", "OUT_OF_RANGE")}
    assert result.counts() == (10, 9, 0, 0, 1)
    assert [p.rows_read for p in result.progress] == [3, 6, 9, 10]


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([UP(csv_chunk=b"name,category\n")], "options"),
        ([UP(options=pb.ImportOptions()), UP(options=pb.ImportOptions())], "options"),
        (
            [
                UP(options=pb.ImportOptions()),
                UP(csv_chunk=b"name,category\n"),
                UP(rows=pb.CommodityRows()),
            ],
            "csv_chunk",
        ),
        ([UP(options=pb.ImportOptions()), UP(csv_chunk=b"name\nx\n")], "csv_chunk"),
    ],
)
async def test_upload_protocol_errors(
    stub: Stub, db: Database, messages: list[UP], field: str
) -> None:
    failure = await expect_failure(collect(stub.UploadCommodities(iter(messages))), INVALID)
    assert field in failure.fields
    assert await commodity_count(db) == 0


def plain_file(total: int) -> bytes:
    return csv_file(
        ["name", "category", "gst rate"], ([f"C{i:05d}", "X", "5"] for i in range(total))
    )


async def cancel_after(call: aio.UnaryStreamCall, rows: int) -> int:
    """Read until `rows` rows are reported, cancel the call; the rows read then."""
    async for item in call:
        if item.HasField("progress") and item.progress.rows_read >= rows:
            call.cancel()
            return item.progress.rows_read
    raise AssertionError("the import ended before it could be cancelled")


async def settled_count(db: Database) -> int:
    """The commodity count once it stops changing (the server has stopped)."""
    previous = -1
    for _ in range(50):
        await asyncio.sleep(0.2)
        current = await commodity_count(db)
        if current == previous:
            return current
        previous = current
    raise AssertionError("the import kept writing after the cancellation")


async def test_a_cancelled_import_leaves_whole_batches(stub: Stub, db: Database) -> None:
    total, size = 6_000, 50
    request = pb.ImportCommoditiesRequest(csv_data=plain_file(total), batch_size=size)
    seen = await cancel_after(stub.ImportCommodities(request), 2 * size)
    stored = await settled_count(db)
    assert seen <= stored < total
    assert stored % size == 0
    assert await event_count(db) == stored


async def test_a_cancelled_atomic_import_leaves_nothing(stub: Stub, db: Database) -> None:
    request = pb.ImportCommoditiesRequest(csv_data=plain_file(6_000), batch_size=50, atomic=True)
    await cancel_after(stub.ImportCommodities(request), 100)
    assert await settled_count(db) == 0
    assert await event_count(db) == 0


async def test_a_retry_with_the_request_id_resumes_after_the_committed_batches(
    stub: Stub, db: Database
) -> None:
    total, size, request_id = 3_000, 50, str(uuid.uuid4())
    data = plain_file(total)
    request = pb.ImportCommoditiesRequest(csv_data=data, batch_size=size, request_id=request_id)
    await cancel_after(stub.ImportCommodities(request), size)
    interrupted = await settled_count(db)
    assert 0 < interrupted < total
    result = await import_file(stub, csv_data=data, batch_size=size, request_id=request_id)
    assert result.counts() == (total, total, 0, 0, 0) and not result.errors
    assert result.progress[0].rows_read == interrupted + size
    assert await commodity_count(db) == total
    assert await event_count(db) == total


async def test_an_upload_failing_later_keeps_its_committed_batches_for_a_retry(
    stub: Stub, db: Database
) -> None:
    """Non-atomic: the batches before a message that does not parse stay committed
    (as ImportOptions.atomic says), and a retry with the request_id resumes after them."""
    total, size, request_id = 1_000, 50, str(uuid.uuid4())
    data = plain_file(total)
    options = pb.ImportOptions(batch_size=size, request_id=request_id)
    cut = data.index(b"\n", len(data) // 2) + 1
    broken = [UP(options=options), UP(csv_chunk=data[:cut]), UP(options=options)]
    failure = await expect_failure(collect(stub.UploadCommodities(iter(broken))), INVALID)
    assert failure.reason == "MIXED"
    kept = await settled_count(db)
    assert 0 < kept < total and kept % size == 0
    assert await event_count(db) == kept
    # the same first data message: the key's request is the options and that message
    result = await collect(stub.UploadCommodities(upload_of(options, data, chunk=cut)))
    assert result.counts() == (total, total, 0, 0, 0) and not result.errors
    assert result.progress[0].rows_read == kept + size
    assert await commodity_count(db) == await event_count(db) == total


async def test_a_zip_bomb_uploaded_as_csv_is_refused_in_bounded_memory(
    stub: Stub, db: Database
) -> None:
    """XLSX goes through ImportCommodities; a workbook (or bomb) in CSV chunks is named."""
    bomb = workbook_bomb()
    requests = [pb.ImportCommoditiesRequest(csv_data=bomb)]
    with peak_memory_growth() as growth:
        # One chunk: the refusal comes at the first, and the client has no more to send.
        upload = stub.UploadCommodities(upload_of(pb.ImportOptions(), bomb, chunk=len(bomb)))
        uploaded = await expect_failure(collect(upload), INVALID)
        imported = await expect_failure(collect(stub.ImportCommodities(requests[0])), INVALID)
    assert growth[0] < 40, f"the server's memory rose {growth[0]:.0f} MiB"
    assert (uploaded.reason, uploaded.fields) == ("NOT_CSV", {"csv_chunk"})
    assert (imported.reason, imported.fields) == ("NOT_CSV", {"csv_data"})
    assert "ImportCommodities" in uploaded.violations["csv_chunk"]
    assert await commodity_count(db) == 0
