"""Statements per call on PostgreSQL, counted in its own statement log: a regression fails.

The database runs with `log_statement = all` (set for this test's database only), and
each RPC's statements are the log lines of that database between the call's start
and end, the LISTEN connection's pings left out. Counts are of a warm call (every
statement already prepared on its connection), with the idempotency key and the
events included, and a deadline on every call. `CEILINGS` holds today's counts;
issue 18's targets are beside them, and lowering a ceiling to its target is how the
cuts land.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from google.protobuf import field_mask_pb2
from google.type import date_pb2
from grpc import aio
from security_support import serving
from support import make_settings, postgres_dsn

from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc, organization_pb2, organization_pb2_grpc

#: RPC -> (statements today, issue 18's target).
CEILINGS = {
    "GetCommodity": (1, 1),
    "BatchGetCommodities": (1, 1),
    "ListCommodities": (1, 2),
    # One statement: the row, the key with its reply, the events (storage/postgres/writes.py).
    "CreateCommodity": (1, 2),
    # The read of the row, then that statement, optimistic on the revision read.
    "UpdateCommodity": (2, 3),
    # The read, then one statement whose guard counts the live children after locking
    # the row (migration 0005).
    "DeleteCommodity": (2, 3),
    # The read, the children deleted with it (one statement for the three tables),
    # then one statement restoring them with it.
    "UndeleteCommodity": (3, 3),
    # The series read, then the write of the next number (as UpdateCommodity's).
    "NextDocumentNumber": (2, 2),
}
#: Every measured call carries a deadline, as clients' calls do (it bounds the write).
DEADLINE_S = 30.0
LOGS = sorted(Path("/var/log/postgresql").glob("postgresql-*-main.log"))
_STATEMENT = re.compile(
    r"\[(?P<pid>\d+)\] \S+@(?P<db>\S+) LOG:  (?:statement|execute [^:]*): (?P<sql>.*)"
)


class StatementLog:
    """The lines PostgreSQL logs for one database, read from where the last read ended."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database
        self.offset = path.stat().st_size
        self.listeners: set[str] = set()

    def statements(self) -> list[str]:
        with self.path.open("rb") as log:
            log.seek(self.offset)
            text = log.read().decode(errors="replace")
            self.offset = log.tell()
        found = []
        for match in _STATEMENT.finditer(text):
            if match["db"] != self.database:
                continue
            if match["sql"].startswith("LISTEN"):
                self.listeners.add(match["pid"])
            elif match["pid"] not in self.listeners:
                found.append(match["sql"])
        return found


@pytest.fixture
async def logged_server(empty_postgres_url: str) -> AsyncIterator[tuple[aio.Channel, StatementLog]]:
    if not LOGS:
        pytest.skip("no PostgreSQL server log to count statements in")
    database = empty_postgres_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(postgres_dsn(empty_postgres_url))
    try:
        await admin.execute(f"ALTER DATABASE \"{database}\" SET log_statement = 'all'")
    finally:
        await admin.close()
    db = Database.connect(make_settings(empty_postgres_url))
    await migrate.upgrade(db.writer)
    await db.dispose()
    log = StatementLog(LOGS[-1], database)
    quiet = {"health_interval_s": 3600, "feed_poll_interval_s": 3600}
    async with (
        serving(empty_postgres_url, **quiet) as app,
        aio.insecure_channel(f"127.0.0.1:{app.port}") as channel,
    ):
        await asyncio.sleep(0.5)  # start-up statements (probe, purge, LISTEN) logged
        log.statements()
        yield channel, log


async def counted(log: StatementLog, call: Callable[[], Awaitable[Any]]) -> int:
    await call()  # warm: statements prepared on the connection it used
    log.statements()
    await call()
    await asyncio.sleep(0.2)
    return len(log.statements())


async def test_statements_per_call_stay_under_their_ceilings(
    logged_server: tuple[aio.Channel, StatementLog],
) -> None:
    channel, log = logged_server
    stub = commodity_pb2_grpc.CommodityServiceStub(channel)
    orgs = organization_pb2_grpc.OrganizationServiceStub(channel)
    made = [
        (await stub.CreateCommodity(pb.CreateCommodityRequest(commodity=_commodity(i)))).commodity
        for i in range(25)
    ]
    names = iter(range(100, 200))
    victims = iter(made[5:])
    numbers = await _document_series(orgs)

    async def create() -> Any:
        request = pb.CreateCommodityRequest(
            commodity=_commodity(next(names)), request_id=str(uuid.uuid4())
        )
        return await stub.CreateCommodity(request, timeout=DEADLINE_S)

    async def update() -> Any:
        target = made[0]
        fresh = (await stub.GetCommodity(pb.GetCommodityRequest(id=target.id))).commodity
        log.statements()  # the Get is not the Update's
        request = pb.UpdateCommodityRequest(
            commodity=pb.Commodity(id=target.id, description=str(uuid.uuid4()), etag=fresh.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["description"]),
            request_id=str(uuid.uuid4()),
        )
        return await stub.UpdateCommodity(request, timeout=DEADLINE_S)

    async def delete_and_undelete() -> tuple[int, int]:
        victim = next(victims)
        deleted = await counted_once(
            lambda: stub.DeleteCommodity(
                pb.DeleteCommodityRequest(id=victim.id, request_id=str(uuid.uuid4())),
                timeout=DEADLINE_S,
            )
        )
        undeleted = await counted_once(
            lambda: stub.UndeleteCommodity(
                pb.UndeleteCommodityRequest(id=victim.id, request_id=str(uuid.uuid4())),
                timeout=DEADLINE_S,
            )
        )
        return deleted, undeleted

    async def counted_once(call: Callable[[], Awaitable[Any]]) -> int:
        log.statements()
        await call()
        await asyncio.sleep(0.2)
        return len(log.statements())

    ids = [m.id for m in made[:20]]
    counts = {
        "GetCommodity": await counted(
            log,
            lambda: stub.GetCommodity(pb.GetCommodityRequest(id=made[1].id), timeout=DEADLINE_S),
        ),
        "BatchGetCommodities": await counted(
            log,
            lambda: stub.BatchGetCommodities(
                pb.BatchGetCommoditiesRequest(ids=ids), timeout=DEADLINE_S
            ),
        ),
        "ListCommodities": await counted(
            log,
            lambda: stub.ListCommodities(
                pb.ListCommoditiesRequest(page_size=20, filter='category = "Fibre"'),
                timeout=DEADLINE_S,
            ),
        ),
        "CreateCommodity": await counted(log, create),
        "NextDocumentNumber": await counted(log, numbers),
    }
    await update()
    counts["UpdateCommodity"] = await counted_once(update)
    await delete_and_undelete()  # warm
    counts["DeleteCommodity"], counts["UndeleteCommodity"] = await delete_and_undelete()
    print("statements per call:", counts)
    over = {rpc: n for rpc, n in counts.items() if n > CEILINGS[rpc][0]}
    assert not over, f"more statements than before: {over} (all: {counts})"
    assert all(n >= 1 for n in counts.values()), counts


def _commodity(i: int) -> pb.Commodity:
    return pb.Commodity(name=f"Commodity {i}", category="Fibre", base_unit="KG")


async def _document_series(
    stub: organization_pb2_grpc.OrganizationServiceStub,
) -> Callable[[], Awaitable[Any]]:
    """An organization with an active year and an INVOICE series: NextDocumentNumber."""
    o = organization_pb2
    org = (
        await stub.CreateOrganization(
            o.CreateOrganizationRequest(organization=o.Organization(name="Trader"))
        )
    ).organization
    year = (
        await stub.CreateFinancialYear(
            o.CreateFinancialYearRequest(
                financial_year=o.FinancialYear(
                    organization_id=org.id,
                    start_date=date_pb2.Date(year=2026, month=4, day=1),
                    end_date=date_pb2.Date(year=2027, month=3, day=31),
                )
            )
        )
    ).financial_year
    await stub.ActivateFinancialYear(o.ActivateFinancialYearRequest(id=year.id))
    series = o.DocumentSeries(
        organization_id=org.id, financial_year_id=year.id, document_type="INVOICE"
    )
    await stub.CreateDocumentSeries(o.CreateDocumentSeriesRequest(document_series=series))

    async def next_number() -> Any:
        request = o.NextDocumentNumberRequest(
            organization_id=org.id, document_type="INVOICE", request_id=str(uuid.uuid4())
        )
        return await stub.NextDocumentNumber(request, timeout=DEADLINE_S)

    return next_number
