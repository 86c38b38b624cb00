"""Helpers of the bulk import/export tests: run an import, read counts, build files."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.commodity import CommodityRow
from masterdata.server.storage.models.events import EventRow
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

Stub = commodity_pb2_grpc.CommodityServiceStub


@dataclass
class ImportResult:
    """Everything an import streamed back."""

    summary: pb.ImportSummary = field(default_factory=pb.ImportSummary)
    errors: list[pb.ImportRowError] = field(default_factory=list)
    progress: list[pb.ImportProgress] = field(default_factory=list)

    @property
    def error_keys(self) -> set[tuple[int, str, str]]:
        return {(e.row_number, e.field, e.reason) for e in self.errors}

    def counts(self) -> tuple[int, int, int, int, int]:
        s = self.summary
        return (s.rows_read, s.created, s.updated, s.unchanged, s.failed)


async def collect(stream: AsyncIterator[Any]) -> ImportResult:
    result = ImportResult()
    async for item in stream:
        kind = item.WhichOneof("kind")
        if kind == "summary":
            result.summary = item.summary
        elif kind == "row_error":
            result.errors.append(item.row_error)
        else:
            result.progress.append(item.progress)
    return result


async def import_file(stub: Stub, **request: Any) -> ImportResult:
    return await collect(stub.ImportCommodities(pb.ImportCommoditiesRequest(**request)))


def csv_file(
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    newline: str = "\n",
    delimiter: str = ",",
) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def read_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


async def commodity_count(db: Database) -> int:
    stmt = select(func.count()).select_from(CommodityRow).where(CommodityRow.delete_time.is_(None))
    async with db.read_session() as session:
        return int((await session.execute(stmt)).scalar_one())


async def commodities(db: Database) -> dict[str, CommodityRow]:
    """Live commodities by name."""
    stmt = select(CommodityRow).where(CommodityRow.delete_time.is_(None))
    async with db.read_session() as session:
        return {row.name: row for row in (await session.execute(stmt)).scalars()}


async def export_bytes(stub: Stub, **request: Any) -> bytes:
    chunks = [
        item.chunk async for item in stub.ExportCommodities(pb.ExportCommoditiesRequest(**request))
    ]
    assert all(len(chunk) <= 1 << 20 for chunk in chunks)
    return b"".join(chunks)


async def event_kinds(db: Database) -> dict[tuple[str, int], int]:
    """(event_type, aggregate_version) -> how many events, in one aggregate query."""
    stmt = select(EventRow.event_type, EventRow.aggregate_version, func.count()).group_by(
        EventRow.event_type, EventRow.aggregate_version
    )
    async with db.read_session() as session:
        return {(t, v): int(n) for t, v, n in await session.execute(stmt)}
