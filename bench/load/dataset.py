"""The starting data of a load run, loaded over gRPC, and the ids the clients draw from.

Realistic enough that reads hit indexes and pages of real size: 10,000 commodities
(one CSV import, UPSERT so a rerun against the same database is harmless), a few
hundred locations across regions, delivery terms to update, and an organization
with an active financial year and an INVOICE series for NextDocumentNumber.
Everything a run creates carries its `tag`, so runs never collide on names.
"""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from dataclasses import dataclass
from datetime import date

import asyncpg
from google.type import date_pb2
from grpc import aio

from masterdata.v1 import (
    commodity_pb2,
    commodity_pb2_grpc,
    location_pb2,
    location_pb2_grpc,
    organization_pb2,
    organization_pb2_grpc,
    trade_terms_pb2,
    trade_terms_pb2_grpc,
)

#: (name, category, HSN heading) of the commodities an Indian trading house deals in.
STAPLES = (
    ("Cotton", "Fibre", "5201"),
    ("Kapas", "Fibre", "5201"),
    ("Wheat", "Cereal", "1001"),
    ("Maize", "Cereal", "1005"),
    ("Chana", "Pulse", "0713"),
    ("Soybean", "Oilseed", "1201"),
    ("Groundnut", "Oilseed", "1202"),
    ("Mustard Seed", "Oilseed", "1207"),
    ("Castor Seed", "Oilseed", "1207"),
    ("Turmeric", "Spice", "0910"),
    ("Jeera", "Spice", "0909"),
    ("Cardamom", "Spice", "0908"),
    ("Guar Seed", "Gum", "1302"),
    ("Sugar", "Softs", "1701"),
    ("Natural Rubber", "Softs", "4001"),
)
#: (state code, market town): several regions, so region filters select a share.
MARKETS = (
    ("MH", "Akola"),
    ("GJ", "Rajkot"),
    ("RJ", "Bikaner"),
    ("AP", "Guntur"),
    ("KA", "Hubli"),
    ("TS", "Adilabad"),
    ("MP", "Indore"),
    ("PB", "Bathinda"),
    ("UP", "Kanpur"),
    ("WB", "Kolkata"),
)
IMPORT_HEADER = ("Name", "Category", "HSN Code", "GST Rate (%)", "Description", "Trade Unit")
TIMEOUT_S = 300.0

#: (id, etag) of a resource the clients may update.
Versioned = tuple[str, str]


@dataclass
class Dataset:
    """What the clients need to know about the data: ids, etags, names to query."""

    tag: str
    commodities: list[Versioned]
    locations: list[Versioned]
    delivery_terms: list[Versioned]
    organization_id: str

    @property
    def categories(self) -> list[str]:
        return sorted({category for _, category, _ in STAPLES})

    @property
    def search_terms(self) -> list[str]:
        return [name for name, _, _ in STAPLES]


def commodity_csv(names: list[str], categories: list[str], description: str) -> bytes:
    """An import file of the given commodities (only the columns that matter here)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(IMPORT_HEADER)
    hsn = {category: code for _, category, code in STAPLES}
    for name, category in zip(names, categories, strict=True):
        writer.writerow((name, category, hsn.get(category, ""), "5.00", description, "QUINTAL"))
    return out.getvalue().encode()


def staple_names(count: int) -> tuple[list[str], list[str]]:
    """`count` commodity names and their categories, cycling through STAPLES."""
    picks = [STAPLES[i % len(STAPLES)] for i in range(count)]
    return [f"{name} {i:05d}" for i, (name, _, _) in enumerate(picks)], [c for _, c, _ in picks]


async def load_dataset(
    channel: aio.Channel, *, commodities: int, locations: int, terms: int
) -> Dataset:
    """Create the starting data through the API and collect what the clients need."""
    tag = uuid.uuid4().hex[:6].upper()
    await import_commodities(channel, commodities)
    return Dataset(
        tag=tag,
        commodities=await list_commodities(channel),
        locations=await create_locations(channel, tag, locations),
        delivery_terms=await create_delivery_terms(channel, tag, terms),
        organization_id=await create_numbering(channel, tag),
    )


async def settle(admin_url: str, database: str) -> None:
    """VACUUM ANALYZE the freshly loaded database, as autovacuum would within a minute.

    The load should meet the steady state of a catalogue, not the first seconds after
    a bulk load: until vacuumed, new rows sit in the GIN indexes' pending lists and
    the planner scans the table for SearchCommodities instead of using them.
    """
    conn = await asyncpg.connect(admin_url.rsplit("/", 1)[0] + f"/{database}")
    try:
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def import_commodities(channel: aio.Channel, count: int) -> None:
    names, categories = staple_names(count)
    stub = commodity_pb2_grpc.CommodityServiceStub(channel)
    request = commodity_pb2.ImportCommoditiesRequest(
        csv_data=commodity_csv(names, categories, "Graded, baled and ready for dispatch"),
        mode=commodity_pb2.IMPORT_MODE_UPSERT,
        batch_size=2000,
    )
    async for reply in stub.ImportCommodities(request, timeout=TIMEOUT_S):
        if reply.HasField("summary") and reply.summary.failed:
            raise RuntimeError(f"dataset import rejected {reply.summary.failed} rows")


async def list_commodities(channel: aio.Channel) -> list[Versioned]:
    stub = commodity_pb2_grpc.CommodityServiceStub(channel)
    found: list[Versioned] = []
    token = ""
    while True:
        page = await stub.ListCommodities(
            commodity_pb2.ListCommoditiesRequest(page_size=1000, page_token=token),
            timeout=TIMEOUT_S,
        )
        found.extend((c.id, c.etag) for c in page.commodities)
        token = page.next_page_token
        if not token:
            return found


async def create_locations(channel: aio.Channel, tag: str, count: int) -> list[Versioned]:
    stub = location_pb2_grpc.LocationServiceStub(channel)

    async def create(i: int) -> Versioned:
        state, city = MARKETS[i % len(MARKETS)]
        location = location_pb2.Location(
            name=f"{city} Yard {tag}-{i}", state_code=state, city=city, country="India"
        )
        reply = await stub.CreateLocation(
            location_pb2.CreateLocationRequest(location=location), timeout=TIMEOUT_S
        )
        return reply.location.id, reply.location.etag

    return list(await asyncio.gather(*(create(i) for i in range(count))))


async def create_delivery_terms(channel: aio.Channel, tag: str, count: int) -> list[Versioned]:
    stub = trade_terms_pb2_grpc.TradeTermsServiceStub(channel)

    async def create(i: int) -> Versioned:
        term = trade_terms_pb2.DeliveryTerm(
            name=f"Ex-yard {tag} {i}", code=f"EXY{tag}{i}", includes_freight=i % 2 == 0
        )
        reply = await stub.CreateDeliveryTerm(
            trade_terms_pb2.CreateDeliveryTermRequest(delivery_term=term), timeout=TIMEOUT_S
        )
        return reply.delivery_term.id, reply.delivery_term.etag

    return list(await asyncio.gather(*(create(i) for i in range(count))))


async def create_numbering(channel: aio.Channel, tag: str) -> str:
    """An organization whose active financial year (the current one) has an INVOICE series."""
    stub = organization_pb2_grpc.OrganizationServiceStub(channel)
    org = (
        await stub.CreateOrganization(
            organization_pb2.CreateOrganizationRequest(
                organization=organization_pb2.Organization(name=f"Load Test Traders {tag}")
            ),
            timeout=TIMEOUT_S,
        )
    ).organization
    today = date.today()
    first = today.year if today.month >= 4 else today.year - 1  # Indian FY: April-March
    year = (
        await stub.CreateFinancialYear(
            organization_pb2.CreateFinancialYearRequest(
                financial_year=organization_pb2.FinancialYear(
                    organization_id=org.id,
                    start_date=date_pb2.Date(year=first, month=4, day=1),
                    end_date=date_pb2.Date(year=first + 1, month=3, day=31),
                )
            ),
            timeout=TIMEOUT_S,
        )
    ).financial_year
    await stub.ActivateFinancialYear(
        organization_pb2.ActivateFinancialYearRequest(id=year.id), timeout=TIMEOUT_S
    )
    series = organization_pb2.DocumentSeries(
        organization_id=org.id,
        financial_year_id=year.id,
        document_type="INVOICE",
        prefix="INV/{FY}/",
    )
    await stub.CreateDocumentSeries(
        organization_pb2.CreateDocumentSeriesRequest(document_series=series), timeout=TIMEOUT_S
    )
    return org.id
