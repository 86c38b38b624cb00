"""GetCommodity and ListCommodities on PostgreSQL beside raw asyncpg and a no-op gRPC handler.

Usage: .venv/bin/python bench/commodity_reads.py [--quick] [--database-url URL]

A scratch database is created from the admin URL, migrated, loaded with 10,000
commodities and dropped at the end. The server runs in this process (client and
server share the interpreter, as the targets assume). Each figure is measured in
the same run as its baselines: raw asyncpg doing the equivalent query through a
pool of the same size, and a no-op grpc.aio unary handler on the same kind of
channel. Prints one JSON document with the ratios and the issue's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from common import Stats, compare, emit, measure, noop_server, running_server, scratch_database
from grpc import aio
from sqlalchemy import insert

from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.commodity import CommodityRow
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"
#: 200 commodities per category, so a filtered page of 100 always fills up.
PER_CATEGORY = 200
LIST_CATEGORY = "Category 01"
LIST_FILTER = f'category = "{LIST_CATEGORY}" AND is_active = true'
RAW_GET = "SELECT * FROM commodities WHERE id = $1"
RAW_LIST = (
    "SELECT * FROM commodities WHERE category = $1 AND is_active AND delete_time IS NULL "
    "ORDER BY name, id LIMIT 101"
)
Operation = Callable[[int], Awaitable[Any]]


def commodity_rows(count: int) -> list[dict[str, Any]]:
    """Realistic rows: units, rates, lists and two JSON documents each."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    categories = max(2, count // PER_CATEGORY)
    rows = []
    for i in range(count):
        now = start + timedelta(seconds=i)
        rows.append(
            {
                "id": uuid.uuid4(),
                "name": f"Commodity {i:05d}",
                "category": f"Category {i % categories:02d}",
                "hsn_code": f"{52010000 + i % 9999:08d}",
                "gst_rate": Decimal("5.00"),
                "description": f"Bench commodity number {i}",
                "base_unit": "KG",
                "trade_unit": "BALE",
                "rate_unit": "CANDY",
                "standard_weight_per_unit": Decimal("170"),
                "supported_currencies": ["INR", "USD"],
                "major_producing_countries": ["IN", "US", "CN"],
                "trading_hubs": ["Rajkot", "Adoni"],
                "price_volatility": "PRICE_VOLATILITY_MEDIUM",
                "is_active": i % 10 != 0,
                "harvest_season": {"India": {"start": "October", "end": "March"}},
                "standard_lot_size": {"quantity": "100", "unit": "BALE"},
                "create_time": now,
                "update_time": now,
                "created_by": "bench",
                "updated_by": "bench",
                "revision": 1,
            }
        )
    return rows


async def load(db: Database, count: int) -> list[str]:
    rows = commodity_rows(count)
    async with db.writer.begin() as conn:
        for i in range(0, len(rows), 1000):
            await conn.execute(insert(CommodityRow.__table__), rows[i : i + 1000])
        await conn.exec_driver_sql("ANALYZE commodities")
    return [str(row["id"]) for row in rows]


async def run_pair(
    label: str, subject: Operation, raw: Operation, noop: Operation, calls: dict[int, int]
) -> dict[str, Any]:
    """The subject beside both baselines at concurrency 1 and 50."""
    result: dict[str, Any] = {}
    for concurrency, count in calls.items():
        measured: dict[str, Stats] = {}
        for name, operation in (("noop_grpc", noop), ("raw_asyncpg", raw), (label, subject)):
            measured[name] = await measure(operation, concurrency=concurrency, calls=count)
        result[f"concurrency_{concurrency}"] = {
            "vs_raw_asyncpg": compare(measured[label], measured["raw_asyncpg"]),
            "vs_noop_grpc": compare(measured[label], measured["noop_grpc"]),
        }
        print(f"{label} c={concurrency}: {asdict(measured[label])}", file=sys.stderr)
    return result


def targets(get: dict[str, Any]) -> dict[str, Any]:
    c1, c50 = get["concurrency_1"], get["concurrency_50"]
    ratio = c50["vs_noop_grpc"]["ratio"]
    p50 = c1["vs_noop_grpc"]["subject"]["p50_ms"]
    p99 = c50["vs_noop_grpc"]["subject"]["p99_ms"]
    return {
        "get_c50_calls_per_s_ge_25pct_of_noop": {"value": ratio, "met": ratio >= 0.25},
        "get_c1_p50_lt_1ms": {"value": p50, "met": p50 < 1.0},
        "get_c50_p99_lt_40ms": {"value": p99, "met": p99 < 40.0},
    }


async def bench(admin_url: str, count: int, calls: dict[int, int]) -> dict[str, Any]:
    async with (
        scratch_database(admin_url) as url,
        running_server(url, log_level="WARNING") as app,
        noop_server() as noop_port,
    ):
        settings = app.runtime.settings
        ids = await load(app.runtime.db, count)
        size = settings.pool_size + settings.max_overflow
        pool = await asyncpg.create_pool(url, min_size=settings.pool_size, max_size=size)
        try:
            async with (
                aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
                aio.insecure_channel(f"127.0.0.1:{noop_port}") as noop_channel,
            ):
                return await scenarios(channel, noop_channel, pool, ids, calls, count, size)
        finally:
            await pool.close()


async def scenarios(
    channel: aio.Channel,
    noop_channel: aio.Channel,
    pool: asyncpg.Pool,
    ids: list[str],
    calls: dict[int, int],
    count: int,
    pool_size: int,
) -> dict[str, Any]:
    ops = operations(channel, noop_channel, pool, ids, max(calls.values()) + 100)
    page = await ops["list"](0)
    assert len(page.commodities) == 100 and page.next_page_token, "the list page must fill"
    list_calls = {c: max(50, n // 10) for c, n in calls.items()}
    get = await run_pair("GetCommodity", ops["get"], ops["raw_get"], ops["noop"], calls)
    listing = await run_pair(
        "ListCommodities", ops["list"], ops["raw_list"], ops["noop"], list_calls
    )
    return {
        "setup": {
            "commodities": count,
            "backend": "postgresql",
            "pool_connections": pool_size,
            "list_request": {"page_size": 100, "filter": LIST_FILTER, "order_by": "name"},
        },
        "GetCommodity": get,
        "ListCommodities": listing,
        "targets": targets(get),
    }


def operations(
    channel: aio.Channel, noop_channel: aio.Channel, pool: asyncpg.Pool, ids: list[str], n: int
) -> dict[str, Operation]:
    """The measured calls: RPCs, their raw asyncpg equivalents, and the no-op RPC."""
    stub = commodity_pb2_grpc.CommodityServiceStub(channel)
    noop_call = noop_channel.unary_unary("/bench.Noop/Call")
    rng = random.Random(7)
    keys = [rng.choice(ids) for _ in range(n)]
    uuids = [uuid.UUID(k) for k in keys]
    list_request = pb.ListCommoditiesRequest(page_size=100, filter=LIST_FILTER, order_by="name")

    async def noop(_i: int) -> Any:
        return await noop_call(b"")

    async def get(i: int) -> Any:
        return await stub.GetCommodity(pb.GetCommodityRequest(id=keys[i % n]))

    async def raw_get(i: int) -> Any:
        return await pool.fetchrow(RAW_GET, uuids[i % n])

    async def list_(_i: int) -> Any:
        return await stub.ListCommodities(list_request)

    async def raw_list(_i: int) -> Any:
        return await pool.fetch(RAW_LIST, LIST_CATEGORY)

    return {"noop": noop, "get": get, "raw_get": raw_get, "list": list_, "raw_list": raw_list}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--database-url", default=ADMIN_URL, help="admin URL (asyncpg form)")
    args = parser.parse_args()
    count = 1000 if args.quick else 10_000
    calls = {1: 200, 50: 500} if args.quick else {1: 3000, 50: 10_000}
    emit(asyncio.run(bench(args.database_url, count, calls)))


if __name__ == "__main__":
    main()
