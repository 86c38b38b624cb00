"""NextDocumentNumber on PostgreSQL beside a raw asyncpg row-locked increment.

Both sides increment one series row, each increment in its own transaction, at
concurrency 1 and 50. The subject is the whole RPC path through an in-process
server (gRPC, unit of work, number_issued event, commit); the baseline is
`UPDATE document_series SET next_number = next_number + 1 ... RETURNING` in an
asyncpg transaction. Runs in a scratch database that is dropped at the end.

    .venv/bin/python bench/document_numbers.py [--quick] [--url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from grpc import aio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import compare, emit, measure, running_server, scratch_database

from masterdata.v1 import organization_pb2 as pb
from masterdata.v1 import organization_pb2_grpc

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/test"
CONCURRENCY = (1, 50)
BASELINE_SQL = (
    "UPDATE document_series SET next_number = next_number + 1 WHERE id = $1 RETURNING next_number"
)
Stub = organization_pb2_grpc.OrganizationServiceStub


async def prepare(stub: Stub) -> tuple[str, str]:
    """An organization with an active year, an INVOICE series and a BASELINE series."""
    org = (
        await stub.CreateOrganization(
            pb.CreateOrganizationRequest(organization=pb.Organization(name="Bench Traders"))
        )
    ).organization
    year = pb.FinancialYear(organization_id=org.id)
    year.start_date.year, year.start_date.month, year.start_date.day = 2025, 4, 1
    year.end_date.year, year.end_date.month, year.end_date.day = 2026, 3, 31
    year = (
        await stub.CreateFinancialYear(pb.CreateFinancialYearRequest(financial_year=year))
    ).financial_year
    await stub.ActivateFinancialYear(pb.ActivateFinancialYearRequest(id=year.id))
    ids = []
    for kind in ("INVOICE", "BASELINE"):
        series = pb.DocumentSeries(
            organization_id=org.id,
            financial_year_id=year.id,
            document_type=kind,
            prefix="INV/{FY}/",
        )
        reply = await stub.CreateDocumentSeries(
            pb.CreateDocumentSeriesRequest(document_series=series)
        )
        ids.append(reply.document_series.id)
    return org.id, ids[1]


async def run(dsn: str, calls: dict[int, int]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with (
        running_server(dsn) as app,
        aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        stub = organization_pb2_grpc.OrganizationServiceStub(channel)
        org_id, baseline_series = await prepare(stub)
        request = pb.NextDocumentNumberRequest(organization_id=org_id, document_type="INVOICE")

        async def subject(_i: int) -> None:
            await stub.NextDocumentNumber(request, timeout=60)

        for concurrency in CONCURRENCY:
            n = calls[concurrency]
            ours = await measure(subject, concurrency=concurrency, calls=n)
            theirs = await baseline(dsn, baseline_series, concurrency, n)
            results[f"concurrency_{concurrency}"] = compare(ours, theirs)
        results["gap_free"] = await check_gap_free(dsn)
    return results


async def baseline(dsn: str, series_id: str, concurrency: int, calls: int) -> Any:
    """The same row-locked increment, raw: one asyncpg transaction per number."""
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    key = uuid.UUID(series_id)

    async def increment(_i: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval(BASELINE_SQL, key)

    try:
        return await measure(increment, concurrency=concurrency, calls=calls)
    finally:
        await pool.close()


async def check_gap_free(dsn: str) -> bool:
    """Every issued INVOICE number has exactly one number_issued event: 1..next-1."""
    conn = await asyncpg.connect(dsn)
    try:
        issued = await conn.fetchval(
            "SELECT count(*) FROM events WHERE event_type = 'document_series.number_issued'"
        )
        next_number = await conn.fetchval(
            "SELECT next_number FROM document_series WHERE document_type = 'INVOICE'"
        )
    finally:
        await conn.close()
    return bool(issued == next_number - 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="asyncpg DSN of an existing database")
    parser.add_argument("--quick", action="store_true", help="a smoke run with few calls")
    args = parser.parse_args()
    calls = {1: 50, 50: 200} if args.quick else {1: 1000, 50: 4000}
    async with scratch_database(args.url) as dsn:
        results = await run(dsn, calls)
    emit(
        {
            "benchmark": "NextDocumentNumber (PostgreSQL)",
            "baseline": "asyncpg UPDATE ... RETURNING, one transaction per number",
            "quick": args.quick,
            **results,
        }
    )


if __name__ == "__main__":
    asyncio.run(main())
