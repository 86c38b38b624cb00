"""Bulk commodity import and CSV export on PostgreSQL, beside in-run database baselines.

Usage: .venv/bin/python bench/bulk_import.py [--quick] [--rows N] [--batch-size N]
                                             [--database-url URL]

A scratch database is created from the admin URL, migrated and dropped at the
end; the server runs in this process (port 0) and the client uploads a generated
CSV through UploadCommodities in 1 MiB chunks: client -> gRPC -> parse ->
validate -> database, one event per row included. In the same run, on the same
rows: (a) asyncpg copy_records_to_table into a scratch table, (b) the seed's
pattern, ORM add + flush per row (5,000 rows), (c) SQLAlchemy Core multi-row
inserts of the rows plus one event row each in one transaction (no parsing, no
gRPC). Then an ExportCommodities CSV of every row. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import io
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from common import ADMIN_URL, emit, scratch_database
from grpc import aio
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from masterdata.server.app import build
from masterdata.server.bulk.cells import format_cell
from masterdata.server.bulk.columns import COLUMNS
from masterdata.server.config import Settings
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.commodity import CommodityRow
from masterdata.server.storage.models.events import EventRow
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

CHUNK = 1 << 20
TARGETS = {
    "end_to_end_rows_per_s": 20_000,
    "ratio_to_core_inserts": 0.45,
    "ratio_to_orm_per_row": 6.0,
    "export_csv_rows_per_s": 50_000,
}
_UNITS = ("KG", "QUINTAL", "MT", "CANDY")
_EMPTY_DOCUMENTS = (
    "country_tax_codes",
    "international_grades",
    "certification_required",
    "contract_specifications",
    "export_regulations",
    "import_regulations",
    "storage_conditions",
    "min_order_quantity",
)


def commodity(i: int, now: datetime) -> dict[str, Any]:
    """A complete, valid table row: units, rates, lists and two JSON documents."""
    return {
        "id": uuid.uuid4(),
        "name": f"Commodity {i:06d}",
        "category": f"Category {i % 50:02d}",
        "hsn_code": f"{52010000 + i % 9999:08d}",
        "hs_code_6digit": f"{520100 + (i % 9999) // 100:06d}",
        "gst_rate": Decimal("5.00"),
        "description": f"Bench commodity number {i}, graded and baled",
        "base_unit": "KG",
        "trade_unit": _UNITS[i % 4],
        "rate_unit": _UNITS[i % 4],
        "standard_weight_per_unit": None,
        "default_currency": "INR",
        "supported_currencies": ["INR", "USD"],
        "international_pricing_unit": "",
        "quality_standards": ["ISO 8115"],
        "major_producing_countries": ["IN", "US", "CN"],
        "major_consuming_countries": [],
        "trading_hubs": ["Rajkot", "Adoni"],
        "traded_on_exchanges": [],
        "price_volatility": "PRICE_VOLATILITY_MEDIUM",
        "phytosanitary_required": i % 2 == 0,
        "fumigation_required": False,
        "seasonal_commodity": True,
        "shelf_life_days": 365,
        "delivery_tolerance_pct": Decimal("2.00"),
        "weight_tolerance_pct": None,
        "is_active": i % 10 != 0,
        **dict.fromkeys(_EMPTY_DOCUMENTS),
        "harvest_season": {"India": {"start": "October", "end": "March"}},
        "standard_lot_size": {"quantity": "100", "unit": "BALE"},
        "create_time": now,
        "update_time": now,
        "delete_time": None,
        "created_by": "bench",
        "updated_by": "bench",
        "revision": 1,
    }


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """The rows as an import file (no id column: every row creates)."""
    columns = [c for c in COLUMNS if c.field != "id"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in columns])
    writer.writerows([format_cell(c.kind, row[c.field]) for c in columns] for row in rows)
    return out.getvalue().encode()


def event_rows(rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    payload = b"\x0a" * 420  # about the size of a serialised Commodity
    return [
        {
            "event_id": uuid.uuid4(),
            "aggregate_type": "commodity",
            "aggregate_id": row["id"],
            "aggregate_version": 1,
            "event_type": "commodity.created",
            "resource_type": "masterdata.v1.Commodity",
            "resource": payload,
            "changed_fields": [],
            "actor": "bench",
            "request_id": "",
            "occur_time": now,
        }
        for row in rows
    ]


def rate(count: int, seconds: float) -> dict[str, float]:
    return {"rows": count, "seconds": round(seconds, 3), "rows_per_s": round(count / seconds, 1)}


async def truncate(db: Database) -> None:
    async with db.writer.begin() as conn:
        await conn.execute(text("TRUNCATE commodities, events, idempotency_keys CASCADE"))


async def core_inserts(db: Database, rows: list[dict[str, Any]]) -> dict[str, float]:
    """(c) Core multi-row inserts of the rows and their events, one transaction."""
    events = event_rows(rows, datetime.now(UTC))
    started = time.perf_counter()
    async with db.writer.begin() as conn:
        for i in range(0, len(rows), 1000):
            await conn.execute(insert(CommodityRow.__table__), rows[i : i + 1000])
            await conn.execute(insert(EventRow.__table__), events[i : i + 1000])
    return rate(len(rows), time.perf_counter() - started)


async def orm_per_row(db: Database, rows: list[dict[str, Any]]) -> dict[str, float]:
    """(b) The seed's pattern: session.add + flush for every row."""
    started = time.perf_counter()
    async with db.write_session() as session, session.begin():
        for row in rows:
            session.add(CommodityRow(**row))
            await session.flush()
    return rate(len(rows), time.perf_counter() - started)


async def copy_baseline(url: str, db: Database) -> dict[str, float]:
    """(a) asyncpg COPY of the imported rows into a scratch table."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE bench_copy (LIKE commodities)")
        records = [tuple(r) for r in await conn.fetch("SELECT * FROM commodities")]
        columns = [
            a.name for a in (await conn.prepare("SELECT * FROM commodities")).get_attributes()
        ]
        started = time.perf_counter()
        await conn.copy_records_to_table("bench_copy", records=records, columns=columns)
        return rate(len(records), time.perf_counter() - started)
    finally:
        await conn.close()


def upload_messages(data: bytes, batch_size: int) -> Iterator[pb.UploadCommoditiesRequest]:
    yield pb.UploadCommoditiesRequest(options=pb.ImportOptions(batch_size=batch_size))
    for start in range(0, len(data), CHUNK):
        yield pb.UploadCommoditiesRequest(csv_chunk=data[start : start + CHUNK])


async def end_to_end(
    stub: commodity_pb2_grpc.CommodityServiceStub, data: bytes, batch_size: int
) -> tuple[dict[str, float], pb.ImportSummary]:
    started, cpu = time.perf_counter(), time.process_time()
    summary = pb.ImportSummary()
    async for item in stub.UploadCommodities(upload_messages(data, batch_size)):
        if item.HasField("summary"):
            summary = item.summary
    figure = rate(summary.created, time.perf_counter() - started)
    # Client and server share this process: its CPU time per row shows what bounds the rate.
    figure["process_cpu_us_per_row"] = round((time.process_time() - cpu) / summary.created * 1e6)
    return figure, summary


async def export_csv(stub: commodity_pb2_grpc.CommodityServiceStub) -> dict[str, float]:
    started = time.perf_counter()
    size, lines = 0, 0
    request = pb.ExportCommoditiesRequest(format=pb.EXPORT_FORMAT_CSV)
    async for item in stub.ExportCommodities(request):
        size += len(item.chunk)
        lines += item.chunk.count(b"\n")
    seconds = time.perf_counter() - started
    return rate(lines - 1, seconds) | {"bytes": size}


async def count(db: Database, table: str) -> int:
    async with db.reader.connect() as conn:
        return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def run(admin_url: str, total: int, per_row: int, batch_size: int) -> dict[str, Any]:
    async with scratch_database(admin_url) as url:
        sa_url = make_url(url).set(drivername="postgresql+asyncpg").render_as_string(False)
        settings = Settings.load(environ={}, database_url=sa_url, listen="127.0.0.1:0")
        db = Database.connect(settings)
        await migrate.upgrade(db.writer)
        now = datetime.now(UTC)
        rows = [commodity(i, now) for i in range(total)]
        data = to_csv(rows)
        core = await core_inserts(db, rows)
        await truncate(db)
        orm = await orm_per_row(db, rows[:per_row])
        await truncate(db)
        # The bench's own copy of the rows is not the server's: free it, so that it
        # does not slow the server's garbage collections in this shared process.
        del rows
        gc.collect()
        app = build(settings, db)
        await app.start()  # freezes start-up objects out of the garbage collector's scans
        try:
            async with aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
                stub = commodity_pb2_grpc.CommodityServiceStub(channel)
                e2e, summary = await end_to_end(stub, data, batch_size)
                stored, events = await count(db, "commodities"), await count(db, "events")
                exported = await export_csv(stub)
            copy = await copy_baseline(url, db)
        finally:
            await app.stop(0)
    return {
        "e2e": e2e,
        "summary": summary,
        "csv_bytes": len(data),
        "stored_rows": stored,
        "stored_events": events,
        "copy": copy,
        "orm": orm,
        "core": core,
        "export": exported,
    }


def report(result: dict[str, Any], batch_size: int) -> dict[str, Any]:
    e2e, core, orm, copy = result["e2e"], result["core"], result["orm"], result["copy"]
    speed = e2e["rows_per_s"]
    summary = result["summary"]
    return {
        "benchmark": "bulk_import",
        "backend": "postgresql",
        "batch_size": batch_size,
        "csv_bytes": result["csv_bytes"],
        "end_to_end_upload": e2e,
        "check": {
            "created": summary.created,
            "failed": summary.failed,
            "stored_rows": result["stored_rows"],
            "stored_events": result["stored_events"],
        },
        "baseline_a_asyncpg_copy": copy,
        "baseline_b_orm_add_flush_per_row": orm,
        "baseline_c_core_multirow_with_events": core,
        "ratios": {
            "to_copy": round(speed / copy["rows_per_s"], 3),
            "to_orm_per_row": round(speed / orm["rows_per_s"], 2),
            "to_core_inserts": round(speed / core["rows_per_s"], 3),
        },
        "export_csv": result["export"],
        "targets": TARGETS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows, 1,000 per-row")
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--database-url", default=ADMIN_URL)
    args = parser.parse_args()
    total = args.rows or (10_000 if args.quick else 100_000)
    per_row = 1_000 if args.quick else 5_000
    result = asyncio.run(run(args.database_url, total, min(per_row, total), args.batch_size))
    emit(report(result, args.batch_size))


if __name__ == "__main__":
    main()
