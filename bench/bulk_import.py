"""Bulk import and CSV export on PostgreSQL, each beside its floor measured in the same run.

Usage: .venv/bin/python bench/bulk_import.py [--rows N] [--batch-size N] [--admin-url URL]
                                             [--json-out PATH] [--quick]

The server is the real `masterdata serve` in a process of its own on a scratch database
(migrated, dropped at the end), so that its CPU and memory are its own: user + system
time and RSS from /proc/<pid>. The PostgreSQL side is the CPU of the backends serving
the scratch database (found by their process title, read from /proc/<pid>/stat before,
during and after a phase; a backend that appears mid-phase counts from when it was
first seen). RSS is sampled every 0.1 s throughout.

Phases, on the same generated rows (complete commodities: units, rates, lists, two
JSON documents; no id column, so every row creates):
1. The floor: asyncpg `copy_records_to_table` of the rows straight into the project's
   own `commodities` and `events` tables, with all their indexes, one ~300-byte event
   per row, in one transaction (at most 100,000 rows; then truncated). Its Python CPU
   (this process, encoding) and PostgreSQL CPU per row.
2. The import: the rows as a CSV sent through UploadCommodities in 1 MiB chunks
   (generated as they are sent for large runs), batches of --batch-size; every row
   must be accounted for in the summary and stored with one event.
3. The export: ExportCommodities CSV of every row, beside its floor: one asyncpg
   connection reading the same columns of the same rows in the same order through a
   cursor, written with csv.writer.
Prints one JSON document (and writes it to --json-out).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import asyncpg
from grpc import aio

from bench.common import ADMIN_URL, emit, scratch_database
from bench.load.probes import TICKS, backend_pids, cpu_seconds, rss_mib
from bench.load.server import Server, run_command, start_server, stop_server
from masterdata.server.bulk.cells import format_cell
from masterdata.server.bulk.columns import COLUMNS
from masterdata.server.storage.models.commodity import CommodityRow
from masterdata.server.storage.postgres.writes import EVENT_COLUMNS
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

CHUNK = 1 << 20
FLOOR_ROWS = 100_000
SAMPLE_EVERY_S = 0.1
EVENT_PAYLOAD = b"\x0a" * 300
#: The server's default row limit (Settings.max_import_rows), and a bound on a row's bytes.
DEFAULT_MAX_ROWS = 500_000
BYTES_PER_ROW_BOUND = 1024
TARGETS = {
    "import_ratio_to_copy_floor": 0.6,
    "import_server_cpu_us_per_row": 25,
    "import_postgres_cpu_us_per_row": 45,
    "export_ratio_to_raw_floor": 0.6,
    "server_rss_max_mib": 500,
}
_UNITS = ("KG", "QUINTAL", "MT", "CANDY")
_TABLE = CommodityRow.__table__
_JSON = {c.key for c in _TABLE.columns if c.type.__class__.__name__ == "JSON"}
_COMMODITY_COLUMNS = [c.key for c in _TABLE.columns]
#: The events table's columns a COPY of events fills (the sequence is the table's).
_EVENT_COLUMNS = [*EVENT_COLUMNS, "occur_time"]
_FILE_COLUMNS = [c for c in COLUMNS if c.field != "id"]


def commodity(i: int, now: datetime) -> dict[str, Any]:
    """A complete, valid table row: units, rates, lists and two JSON documents."""
    empty = dict.fromkeys(sorted(_JSON - {"harvest_season", "standard_lot_size"}))
    return {
        "id": uuid.uuid4(),
        "name": f"Commodity {i:07d}",
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
        **empty,
        "harvest_season": {"India": {"start": "October", "end": "March"}},
        "standard_lot_size": {"quantity": "100", "unit": "BALE"},
        "create_time": now,
        "update_time": now,
        "delete_time": None,
        "created_by": "bench",
        "updated_by": "bench",
        "revision": 1,
    }


def csv_chunks(total: int, now: datetime) -> Iterator[bytes]:
    """The rows as an import file, in pieces of about CHUNK bytes, made as they are taken."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in _FILE_COLUMNS])
    for i in range(total):
        row = commodity(i, now)
        writer.writerow([format_cell(c.kind, row[c.field]) for c in _FILE_COLUMNS])
        if out.tell() >= CHUNK:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue().encode()


# ---- what the server and the database spend ------------------------------------------


@dataclass
class Meter:
    """CPU of the server and of the database's backends over a phase; the server's RSS."""

    server_pid: int
    database: str
    backends_first: dict[int, float] = field(default_factory=dict)
    backends_last: dict[int, float] = field(default_factory=dict)
    rss_max_mib: float = 0.0
    _server_cpu: float = 0.0
    _started: float = 0.0
    _task: asyncio.Task[None] | None = None

    def _sample(self) -> None:
        self.rss_max_mib = max(self.rss_max_mib, rss_mib(self.server_pid))
        for pid in backend_pids(self.database):
            spent = cpu_seconds(pid)
            self.backends_first.setdefault(pid, spent)
            if spent:
                self.backends_last[pid] = spent

    async def _run(self) -> None:
        while True:
            self._sample()
            await asyncio.sleep(SAMPLE_EVERY_S)

    def start(self) -> None:
        self._sample()
        self._threads = thread_cpu(self.server_pid)
        self._server_cpu = cpu_seconds(self.server_pid)
        self._started = time.perf_counter()
        self._task = asyncio.create_task(self._run())

    async def stop(self, rows: int) -> dict[str, float]:
        seconds = time.perf_counter() - self._started
        server = cpu_seconds(self.server_pid) - self._server_cpu
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._sample()
        postgres = sum(self.backends_last.get(p, v) - v for p, v in self.backends_first.items())
        threads: dict[str, float] = {}
        for tid, (name, spent) in thread_cpu(self.server_pid).items():
            before = self._threads.get(tid, (name, 0.0))[1]
            threads[name] = threads.get(name, 0.0) + spent - before
        return {
            "server_threads_cpu_us_per_row": {
                name: per_row(spent, rows)
                for name, spent in sorted(threads.items(), key=lambda item: -item[1])
                if per_row(spent, rows) >= 0.5
            },
            **rate(rows, seconds),
            "server_cpu_us_per_row": per_row(server, rows),
            "postgres_cpu_us_per_row": per_row(postgres, rows),
            "server_rss_max_mib": round(self.rss_max_mib, 1),
        }


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """(name, user + system CPU seconds) of each thread of a process."""
    found = {}
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/stat") as stat:
                text = stat.read()
                name = text[text.index("(") + 1 : text.rindex(")")]
                fields = text.rsplit(")", 1)[1].split()
                found[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def rate(rows: int, seconds: float) -> dict[str, float]:
    return {"rows": rows, "seconds": round(seconds, 3), "rows_per_s": round(rows / seconds, 1)}


def per_row(seconds: float, rows: int) -> float:
    return round(seconds / max(rows, 1) * 1e6, 1)


# ---- phase 1: the floor ------------------------------------------------------------


def copy_records(rows: int, now: datetime) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """COPY tuples of the commodities and their events (JSON as text, as jsonb takes it)."""
    commodities, events = [], []
    for i in range(rows):
        row = commodity(i, now)
        commodities.append(
            tuple(json.dumps(row[c]) if c in _JSON else row[c] for c in _COMMODITY_COLUMNS)
        )
        events.append(
            (
                uuid.uuid4(),
                "commodity",
                row["id"],
                1,
                "commodity.created",
                "masterdata.v1.Commodity",
                EVENT_PAYLOAD,
                "[]",
                "bench",
                "",
                now,
            )
        )
    return commodities, events


async def copy_floor(dsn: str, rows: int) -> dict[str, float]:
    """COPY into commodities and events with all their indexes, in one transaction."""
    commodities, events = copy_records(rows, datetime.now(UTC))
    conn = await asyncpg.connect(dsn)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        python, postgres = time.process_time(), cpu_seconds(backend)
        started = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table(
                "commodities", records=commodities, columns=_COMMODITY_COLUMNS
            )
            await conn.copy_records_to_table("events", records=events, columns=_EVENT_COLUMNS)
        seconds = time.perf_counter() - started
        figure = rate(rows, seconds) | {
            "python_cpu_us_per_row": per_row(time.process_time() - python, rows),
            "postgres_cpu_us_per_row": per_row(cpu_seconds(backend) - postgres, rows),
        }
        await conn.execute("TRUNCATE commodities, events CASCADE")
        await conn.execute("VACUUM ANALYZE commodities")
        await conn.execute("VACUUM ANALYZE events")
        return figure
    finally:
        await conn.close()


# ---- phase 2: the import -----------------------------------------------------------


def upload_messages(
    chunks: Iterator[bytes] | list[bytes], batch_size: int
) -> Iterator[pb.UploadCommoditiesRequest]:
    yield pb.UploadCommoditiesRequest(options=pb.ImportOptions(batch_size=batch_size))
    for chunk in chunks:
        yield pb.UploadCommoditiesRequest(csv_chunk=chunk)


async def upload(
    stub: commodity_pb2_grpc.CommodityServiceStub, chunks: Iterator[bytes] | list[bytes], size: int
) -> pb.ImportSummary:
    summary = pb.ImportSummary()
    async for item in stub.UploadCommodities(upload_messages(chunks, size), timeout=3600):
        if item.HasField("summary"):
            summary = item.summary
    return summary


async def count(dsn: str, table: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


# ---- phase 3: the export -----------------------------------------------------------


async def export_csv(stub: commodity_pb2_grpc.CommodityServiceStub) -> tuple[int, int]:
    size, lines = 0, 0
    request = pb.ExportCommoditiesRequest(format=pb.EXPORT_FORMAT_CSV)
    async for item in stub.ExportCommodities(request, timeout=3600):
        size += len(item.chunk)
        lines += item.chunk.count(b"\n")
    return lines - 1, size


async def export_floor(dsn: str) -> dict[str, float]:
    """The same columns and rows read raw through a cursor and written with csv.writer."""
    columns = ", ".join(c.field for c in COLUMNS)
    query = (
        f"SELECT {columns} FROM commodities WHERE delete_time IS NULL ORDER BY category, name, id"
    )
    conn = await asyncpg.connect(dsn)
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        python, postgres = time.process_time(), cpu_seconds(backend)
        started = time.perf_counter()
        rows, size = 0, 0
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([c.header for c in COLUMNS])
        async with conn.transaction():
            async for record in conn.cursor(query, prefetch=1000):
                writer.writerow(record)
                rows += 1
                if out.tell() >= CHUNK:
                    size += len(out.getvalue().encode())
                    out.seek(0)
                    out.truncate()
        size += len(out.getvalue().encode())
        return rate(rows, time.perf_counter() - started) | {
            "bytes": size,
            "python_cpu_us_per_row": per_row(time.process_time() - python, rows),
            "postgres_cpu_us_per_row": per_row(cpu_seconds(backend) - postgres, rows),
        }
    finally:
        await conn.close()


# ---- the run -----------------------------------------------------------------------


def limits(rows: int) -> dict[str, str]:
    """Import limits that admit the run (an operator raises them so for a large load)."""
    if rows <= DEFAULT_MAX_ROWS:
        return {}
    return {
        "MASTERDATA_MAX_IMPORT_ROWS": str(rows),
        "MASTERDATA_MAX_IMPORT_BYTES": str(rows * BYTES_PER_ROW_BOUND),
    }


@asynccontextmanager
async def served(admin_url: str, rows: int) -> Any:
    async with scratch_database(admin_url) as dsn:
        url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        await run_command(["migrate"], url)
        server = await start_server(url, 1, limits(rows))
        try:
            yield dsn, server
        finally:
            await stop_server(server)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    total, size = args.rows, args.batch_size
    async with served(args.admin_url, total) as (dsn, server):
        server_: Server = server
        floor = await copy_floor(dsn, min(total, FLOOR_ROWS))
        now = datetime.now(UTC)
        # Small runs send a file made beforehand; large ones make it as it is sent.
        chunks = list(csv_chunks(total, now)) if total <= FLOOR_ROWS else csv_chunks(total, now)
        async with aio.insecure_channel(server_.target) as channel:
            stub = commodity_pb2_grpc.CommodityServiceStub(channel)
            meter = Meter(server_.pids[0], server_.database)
            meter.start()
            summary = await upload(stub, chunks, size)
            imported = await meter.stop(summary.created)
            stored, events = await count(dsn, "commodities"), await count(dsn, "events")
            meter = Meter(server_.pids[0], server_.database)
            meter.start()
            exported_rows, exported_bytes = await export_csv(stub)
            exported = await meter.stop(exported_rows) | {"bytes": exported_bytes}
        raw = await export_floor(dsn)
    return report(total, size, floor, imported, summary, stored, events, exported, raw)


def report(
    total: int,
    size: int,
    floor: dict[str, float],
    imported: dict[str, float],
    summary: pb.ImportSummary,
    stored: int,
    events: int,
    exported: dict[str, float],
    raw: dict[str, float],
) -> dict[str, Any]:
    accounted = summary.created + summary.updated + summary.unchanged + summary.failed
    return {
        "benchmark": "bulk_import",
        "backend": "postgresql",
        "rows": total,
        "batch_size": size,
        "server_env": limits(total),
        "floor_copy_into_own_tables": floor,
        "import_upload_csv": imported,
        "import_ratio_to_floor": round(imported["rows_per_s"] / floor["rows_per_s"], 3),
        "check": {
            "rows_read": summary.rows_read,
            "created": summary.created,
            "failed": summary.failed,
            "every_row_accounted_for": summary.rows_read == total == accounted,
            "stored_rows": stored,
            "stored_events": events,
        },
        "export_csv": exported,
        "export_floor_asyncpg_csv_writer": raw,
        "export_ratio_to_floor": round(exported["rows_per_s"] / raw["rows_per_s"], 3),
        "targets": TARGETS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows")
    parser.add_argument("--rows", type=int, default=0, help="rows to import (100,000)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--admin-url", "--database-url", default=ADMIN_URL)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    args.rows = args.rows or (10_000 if args.quick else 100_000)
    result = asyncio.run(run(args))
    emit(result)
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
