"""The traffic mix: 70% reads, 20% writes, 5% NextDocumentNumber, 5% short imports.

Each operation is one RPC (the reported `method`) on a random one of the client's
connections. Updates send an update_mask and the etag this client last saw:
every client process updates only its own share of the rows, and never two calls
on one row at once, so an ABORTED here is a real lost update, not test noise.
Two operations fail on purpose (a bad latitude, a stale etag); their expected
status is counted as "deliberate", anything else as unexpected.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import grpc
from google.protobuf import field_mask_pb2
from grpc import aio

from bench.load.dataset import MARKETS, Dataset, Versioned, commodity_csv
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

CALL_TIMEOUT_S = 30.0
IMPORT_ROWS = 5
IMPORT_SLOTS = 64
BATCH_GET_IDS = 20


class NoFreeTarget(Exception):
    """Every row this client may update is being updated right now (client overload)."""


class ImportRowsRejected(Exception):
    """A short import reported row errors although its rows are valid."""


class Stubs:
    """The service stubs of one connection."""

    def __init__(self, channel: aio.Channel) -> None:
        self.commodities = commodity_pb2_grpc.CommodityServiceStub(channel)
        self.locations = location_pb2_grpc.LocationServiceStub(channel)
        self.organizations = organization_pb2_grpc.OrganizationServiceStub(channel)
        self.terms = trade_terms_pb2_grpc.TradeTermsServiceStub(channel)


class Workload:
    """One client process's view: its connections, its share of the rows, their etags."""

    def __init__(
        self, channels: list[aio.Channel], data: Dataset, client: int, clients: int, seed: int
    ) -> None:
        self.rng = random.Random(seed)
        self.stubs = [Stubs(channel) for channel in channels]
        self.data = data
        self.client = client
        self.all_commodities = [id_ for id_, _ in data.commodities]
        self.all_locations = [id_ for id_, _ in data.locations]
        self.etags: dict[str, str] = {}
        self.own = {
            kind: self._share(rows, client, clients)
            for kind, rows in (
                ("commodity", data.commodities),
                ("location", data.locations),
                ("delivery_term", data.delivery_terms),
            )
        }
        self.own["import"] = [str(slot) for slot in range(IMPORT_SLOTS)]
        self.busy: set[str] = set()
        self.serial = itertools.count()
        #: Document numbers this client received (checked for gaps across clients).
        self.numbers: list[int] = []

    def _share(self, rows: list[Versioned], client: int, clients: int) -> list[str]:
        mine = rows[client::clients] or rows
        self.etags.update(mine)
        return [id_ for id_, _ in mine]

    def stub(self) -> Stubs:
        return self.rng.choice(self.stubs)

    def name(self, what: str) -> str:
        return f"{what} {self.data.tag} c{self.client} n{next(self.serial)}"

    @contextlib.contextmanager
    def claim(self, kind: str) -> Iterator[str]:
        """A row of this client's share that no other call of this client is changing."""
        pool = self.own[kind]
        for _ in range(20):
            key = self.rng.choice(pool)
            if key not in self.busy:
                break
        else:
            raise NoFreeTarget(kind)
        self.busy.add(key)
        try:
            yield key
        finally:
            self.busy.discard(key)


Call = Callable[[Workload], Awaitable[None]]


@dataclass(frozen=True)
class Operation:
    """One entry of the mix: what is called, how often, and which failure is intended."""

    method: str
    kind: str  # read | write | next_number | import
    weight: int
    call: Call
    deliberate: grpc.StatusCode | None = None


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


# ---- reads (70) ----------------------------------------------------------------


async def get_commodity(w: Workload) -> None:
    request = commodity_pb2.GetCommodityRequest(id=w.rng.choice(w.all_commodities))
    await w.stub().commodities.GetCommodity(request, timeout=CALL_TIMEOUT_S)


async def batch_get_commodities(w: Workload) -> None:
    ids = w.rng.sample(w.all_commodities, min(BATCH_GET_IDS, len(w.all_commodities)))
    request = commodity_pb2.BatchGetCommoditiesRequest(ids=ids)
    await w.stub().commodities.BatchGetCommodities(request, timeout=CALL_TIMEOUT_S)


async def list_commodities(w: Workload) -> None:
    category = w.rng.choice(w.data.categories)
    request = commodity_pb2.ListCommoditiesRequest(
        filter=f'category = "{category}" AND is_active = true', order_by="name", page_size=20
    )
    await w.stub().commodities.ListCommodities(request, timeout=CALL_TIMEOUT_S)


async def search_commodities(w: Workload) -> None:
    query = f"{w.rng.choice(w.data.search_terms)} {w.rng.randrange(10)}"
    request = commodity_pb2.SearchCommoditiesRequest(query=query, page_size=20)
    await w.stub().commodities.SearchCommodities(request, timeout=CALL_TIMEOUT_S)


async def get_location(w: Workload) -> None:
    request = location_pb2.GetLocationRequest(id=w.rng.choice(w.all_locations))
    await w.stub().locations.GetLocation(request, timeout=CALL_TIMEOUT_S)


async def list_locations(w: Workload) -> None:
    region = w.rng.choice(("WEST", "SOUTH", "NORTH"))
    request = location_pb2.ListLocationsRequest(
        filter=f"region = {region} AND is_active = true", order_by="name", page_size=20
    )
    await w.stub().locations.ListLocations(request, timeout=CALL_TIMEOUT_S)


async def get_delivery_term(w: Workload) -> None:
    id_ = w.rng.choice(w.data.delivery_terms)[0]
    request = trade_terms_pb2.GetDeliveryTermRequest(id=id_)
    await w.stub().terms.GetDeliveryTerm(request, timeout=CALL_TIMEOUT_S)


async def list_payment_terms(w: Workload) -> None:
    request = trade_terms_pb2.ListPaymentTermsRequest(filter="is_active = true")
    await w.stub().terms.ListPaymentTerms(request, timeout=CALL_TIMEOUT_S)


# ---- writes (20) -----------------------------------------------------------------


async def create_commodity(w: Workload) -> None:
    commodity = commodity_pb2.Commodity(
        name=w.name("New commodity"), category=w.rng.choice(w.data.categories), gst_rate="5.00"
    )
    request = commodity_pb2.CreateCommodityRequest(
        commodity=commodity, request_id=str(uuid.uuid4())
    )
    await w.stub().commodities.CreateCommodity(request, timeout=CALL_TIMEOUT_S)


async def update_commodity(w: Workload) -> None:
    with w.claim("commodity") as id_:
        commodity = commodity_pb2.Commodity(
            id=id_,
            etag=w.etags[id_],
            description=f"Revised grading note {next(w.serial)}",
            gst_rate=w.rng.choice(("0.00", "5.00", "12.00", "18.00")),
        )
        request = commodity_pb2.UpdateCommodityRequest(
            commodity=commodity, update_mask=mask("description", "gst_rate")
        )
        reply = await w.stub().commodities.UpdateCommodity(request, timeout=CALL_TIMEOUT_S)
        w.etags[id_] = reply.commodity.etag


async def update_commodity_stale(w: Workload) -> None:
    """Deliberately ABORTED: an etag no revision ever had."""
    commodity = commodity_pb2.Commodity(
        id=w.rng.choice(w.all_commodities), etag='W/"0"', description="lost update"
    )
    request = commodity_pb2.UpdateCommodityRequest(
        commodity=commodity, update_mask=mask("description")
    )
    await w.stub().commodities.UpdateCommodity(request, timeout=CALL_TIMEOUT_S)


async def create_location(w: Workload) -> None:
    state, city = w.rng.choice(MARKETS)
    location = location_pb2.Location(name=w.name("Yard"), state_code=state, city=city)
    request = location_pb2.CreateLocationRequest(location=location, request_id=str(uuid.uuid4()))
    await w.stub().locations.CreateLocation(request, timeout=CALL_TIMEOUT_S)


async def create_location_invalid(w: Workload) -> None:
    """Deliberately INVALID_ARGUMENT: a latitude beyond the pole."""
    location = location_pb2.Location(name=w.name("Nowhere"), latitude=91)
    request = location_pb2.CreateLocationRequest(location=location)
    await w.stub().locations.CreateLocation(request, timeout=CALL_TIMEOUT_S)


async def update_location(w: Workload) -> None:
    with w.claim("location") as id_:
        city = w.rng.choice(MARKETS)[1]
        location = location_pb2.Location(id=id_, etag=w.etags[id_], city=city)
        request = location_pb2.UpdateLocationRequest(location=location, update_mask=mask("city"))
        reply = await w.stub().locations.UpdateLocation(request, timeout=CALL_TIMEOUT_S)
        w.etags[id_] = reply.location.etag


async def update_delivery_term(w: Workload) -> None:
    with w.claim("delivery_term") as id_:
        term = trade_terms_pb2.DeliveryTerm(
            id=id_, etag=w.etags[id_], description=f"Terms revision {next(w.serial)}"
        )
        request = trade_terms_pb2.UpdateDeliveryTermRequest(
            delivery_term=term, update_mask=mask("description")
        )
        reply = await w.stub().terms.UpdateDeliveryTerm(request, timeout=CALL_TIMEOUT_S)
        w.etags[id_] = reply.delivery_term.etag


async def create_trade_type(w: Workload) -> None:
    serial = next(w.serial)
    term = trade_terms_pb2.TradeType(
        name=w.name("Trade type"), code=f"T{w.data.tag}C{w.client}N{serial}"
    )
    request = trade_terms_pb2.CreateTradeTypeRequest(trade_type=term)
    await w.stub().terms.CreateTradeType(request, timeout=CALL_TIMEOUT_S)


# ---- document numbers (5) and short imports (5) ----------------------------------


async def next_document_number(w: Workload) -> None:
    request = organization_pb2.NextDocumentNumberRequest(
        organization_id=w.data.organization_id, document_type="INVOICE"
    )
    reply = await w.stub().organizations.NextDocumentNumber(request, timeout=CALL_TIMEOUT_S)
    w.numbers.append(reply.number)


async def short_import(w: Workload) -> None:
    """UPSERT a few rows of one slot: created the first time, updated afterwards."""
    with w.claim("import") as slot:
        names = [f"Imported {w.data.tag} c{w.client} s{slot} r{i}" for i in range(IMPORT_ROWS)]
        categories = [w.rng.choice(w.data.categories) for _ in names]
        data = commodity_csv(names, categories, f"Import revision {next(w.serial)}")
        request = commodity_pb2.ImportCommoditiesRequest(
            csv_data=data, mode=commodity_pb2.IMPORT_MODE_UPSERT
        )
        async for reply in w.stub().commodities.ImportCommodities(request, timeout=CALL_TIMEOUT_S):
            if reply.HasField("summary") and reply.summary.failed:
                raise ImportRowsRejected(f"{reply.summary.failed} rows")


MIX: tuple[Operation, ...] = (
    Operation("GetCommodity", "read", 18, get_commodity),
    Operation("BatchGetCommodities", "read", 8, batch_get_commodities),
    Operation("ListCommodities", "read", 12, list_commodities),
    Operation("SearchCommodities", "read", 10, search_commodities),
    Operation("GetLocation", "read", 8, get_location),
    Operation("ListLocations", "read", 6, list_locations),
    Operation("GetDeliveryTerm", "read", 4, get_delivery_term),
    Operation("ListPaymentTerms", "read", 4, list_payment_terms),
    Operation("CreateCommodity", "write", 3, create_commodity),
    Operation("UpdateCommodity", "write", 6, update_commodity),
    Operation("CreateLocation", "write", 3, create_location),
    Operation("UpdateLocation", "write", 3, update_location),
    Operation("UpdateDeliveryTerm", "write", 2, update_delivery_term),
    Operation("CreateTradeType", "write", 1, create_trade_type),
    Operation(
        "CreateLocation(invalid)",
        "write",
        1,
        create_location_invalid,
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    Operation(
        "UpdateCommodity(stale etag)",
        "write",
        1,
        update_commodity_stale,
        grpc.StatusCode.ABORTED,
    ),
    Operation("NextDocumentNumber", "next_number", 5, next_document_number),
    Operation("ImportCommodities", "import", 5, short_import),
)


def picker(rng: random.Random) -> Callable[[], Operation]:
    """Draw operations with the mix's weights."""
    weights = list(itertools.accumulate(op.weight for op in MIX))
    return lambda: rng.choices(MIX, cum_weights=weights)[0]
