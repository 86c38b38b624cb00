"""Live names are unique case-insensitively in Unicode, on both backends alike.

The fuzz net found SQLite folding ASCII only: "ÉCRU" and "écru" were two commodities
there and one on PostgreSQL, and an import naming the second failed as a whole on
SQLite (the import matches names lowercased in Python, the index did not).
"""

from __future__ import annotations

import grpc
from bulk_support import Stub, commodity_count, csv_file, import_file
from grpc import aio
from support import expect_failure

from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb


def create(name: str) -> pb.CreateCommodityRequest:
    return pb.CreateCommodityRequest(commodity=pb.Commodity(name=name, category="Fibre"))


async def test_names_differing_only_in_non_ascii_case_clash(
    channel: aio.Channel, db: Database
) -> None:
    stub = Stub(channel)
    await stub.CreateCommodity(create("ÉCRU"))
    failure = await expect_failure(
        stub.CreateCommodity(create("écru")), grpc.StatusCode.ALREADY_EXISTS
    )
    assert failure.reason == "DUPLICATE_NAME"
    found = await stub.ListCommodities(pb.ListCommoditiesRequest(filter='name : "éc"'))
    assert [c.name for c in found.commodities] == ["ÉCRU"]


async def test_an_import_matches_a_stored_name_in_any_case(
    channel: aio.Channel, db: Database
) -> None:
    stub = Stub(channel)
    await stub.CreateCommodity(create("ÉCRU"))
    data = csv_file(["Name", "Category", "Description"], [["écru", "Fibre", "updated"]])
    result = await import_file(stub, csv_data=data, mode=pb.IMPORT_MODE_UPSERT)
    assert result.counts() == (1, 0, 1, 0, 0) and not result.errors
    assert await commodity_count(db) == 1
