"""Scenario (d)'s big import: one UploadCommodities of many rows while the mix runs.

The file is built before the phase starts, so its generation does not compete
with the load; the upload streams it in 1 MiB CSV chunks, as a real client of a
file too large for one message would.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from grpc import aio

from bench.load.dataset import STAPLES, commodity_csv
from masterdata.v1 import commodity_pb2, commodity_pb2_grpc

CHUNK = 1 << 20
BATCH_SIZE = 1000


def big_csv(rows: int, tag: str) -> bytes:
    names = [f"Bulk {tag} {i:06d}" for i in range(rows)]
    categories = [STAPLES[i % len(STAPLES)][1] for i in range(rows)]
    return commodity_csv(names, categories, "Bulk-loaded with the season's arrivals")


def upload_messages(data: bytes) -> Iterator[commodity_pb2.UploadCommoditiesRequest]:
    options = commodity_pb2.ImportOptions(
        mode=commodity_pb2.IMPORT_MODE_CREATE_ONLY, batch_size=BATCH_SIZE
    )
    yield commodity_pb2.UploadCommoditiesRequest(options=options)
    for start in range(0, len(data), CHUNK):
        yield commodity_pb2.UploadCommoditiesRequest(csv_chunk=data[start : start + CHUNK])


async def upload(channel: aio.Channel, data: bytes) -> dict[str, Any]:
    """Upload `data`; rows/s, duration and the server's summary."""
    stub = commodity_pb2_grpc.CommodityServiceStub(channel)
    started = time.perf_counter()
    summary = commodity_pb2.ImportSummary()
    code = "OK"
    try:
        async for item in stub.UploadCommodities(upload_messages(data), timeout=3600):
            if item.HasField("summary"):
                summary = item.summary
    except aio.AioRpcError as error:
        code = error.code().name
    seconds = time.perf_counter() - started
    return {
        "code": code,
        "rows_read": summary.rows_read,
        "created": summary.created,
        "failed": summary.failed,
        "seconds": round(seconds, 1),
        "rows_per_s": round(summary.created / seconds, 1) if seconds else 0.0,
    }
