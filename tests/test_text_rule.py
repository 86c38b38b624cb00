"""One string rule on both backends: a NUL anywhere in a request is INVALID_ARGUMENT
naming the field, and a row error in an import, never INTERNAL or a failed import."""

from __future__ import annotations

import grpc
import pytest
from bulk_support import Stub, commodity_count, csv_file, import_file
from google.protobuf import struct_pb2
from grpc import aio
from support import event_count, expect_failure

from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import location_pb2, location_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT


def commodity(**fields: object) -> pb.Commodity:
    defaults: dict[str, object] = {"name": "Cotton", "category": "Fibre", "base_unit": "KG"}
    return pb.Commodity(**(defaults | fields))  # type: ignore[arg-type]


def struct(document: dict[str, object]) -> struct_pb2.Struct:
    value = struct_pb2.Struct()
    value.update(document)
    return value


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"trading_hubs": ["Rajkot", "Raj\x00kot"]}, "commodity.trading_hubs[1]"),
        ({"country_tax_codes": struct({"IN": "52\x0001"})}, 'commodity.country_tax_codes["IN"]'),
        (
            {"country_tax_codes": struct({"I\x00N": "5201"})},
            'commodity.country_tax_codes["I\\u0000N"]',
        ),
        (
            {"harvest_season": struct({"India": {"months": ["Oct", "N\x00v"]}})},
            'commodity.harvest_season["India"]["months"][1]',
        ),
        ({"description": "long\x00staple"}, "commodity.description"),
    ],
)
async def test_a_nul_anywhere_in_a_create_names_its_path_and_writes_nothing(
    channel: aio.Channel, db: Database, fields: dict[str, object], path: str
) -> None:
    stub = Stub(channel)
    request = pb.CreateCommodityRequest(commodity=commodity(**fields))
    failure = await expect_failure(stub.CreateCommodity(request), INVALID)
    assert failure.reason == "INVALID_CHARACTERS"
    assert set(failure.violations) == {path}
    assert await commodity_count(db) == 0
    assert await event_count(db) == 0


async def test_every_bad_string_of_a_request_is_named(channel: aio.Channel, db: Database) -> None:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    location = location_pb2.Location(name="Rajkot\x00", state_code="GJ", city="Raj\x00kot")
    failure = await expect_failure(
        stub.CreateLocation(location_pb2.CreateLocationRequest(location=location)), INVALID
    )
    assert failure.fields == {"location.name", "location.city"}


async def test_a_nul_in_a_read_request_is_refused_too(channel: aio.Channel, db: Database) -> None:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    request = location_pb2.ListLocationsRequest(filter='name = "a\x00"')
    failure = await expect_failure(stub.ListLocations(request), INVALID)
    assert failure.fields == {"filter"}


async def test_nul_cells_of_a_csv_are_row_errors_and_the_rest_imports(
    channel: aio.Channel, db: Database
) -> None:
    header = ["Name", "Category", "Base Unit", "Trading Hubs", "Harvest Season (JSON)"]
    rows = [
        ["Cotton", "Fibre", "KG", "Rajkot", "{}"],
        ["Jute", "Fibre", "KG", "Kol\x00kata", ""],
        ["Wheat", "Grain", "KG", "", '{"India": {"start": "Oct\\u0000"}}'],
        ["Rice", "Grain", "KG", "", '{"In\x00dia": 1}'],
    ]
    result = await import_file(Stub(channel), csv_data=csv_file(header, rows))
    assert result.error_keys == {
        (3, "trading_hubs", "INVALID_CHARACTERS"),
        (4, "harvest_season", "INVALID_CHARACTERS"),
        (5, "harvest_season", "INVALID_CHARACTERS"),
    }
    assert result.counts() == (4, 1, 0, 0, 3)
    assert await commodity_count(db) == 1


async def test_nul_in_import_rows_is_a_row_error(channel: aio.Channel, db: Database) -> None:
    rows = pb.CommodityRows(
        commodities=[
            commodity(),
            commodity(name="Jute", trading_hubs=["Kol\x00kata"]),
            commodity(name="Wheat", country_tax_codes=struct({"IN": {"gst": "5\x00"}})),
        ]
    )
    result = await import_file(Stub(channel), rows=rows)
    assert result.error_keys == {
        (2, "trading_hubs[0]", "INVALID_CHARACTERS"),
        (3, 'country_tax_codes["IN"]["gst"]', "INVALID_CHARACTERS"),
    }
    assert result.counts() == (3, 1, 0, 0, 2)


async def test_thousands_of_bad_strings_name_the_first_ones(
    channel: aio.Channel, db: Database
) -> None:
    """The details must fit in gRPC's trailing metadata (8 KiB): the first 20 paths."""
    hubs = [f"hub\x00{i}" + "x" * 300 for i in range(2_000)]
    request = pb.CreateCommodityRequest(commodity=commodity(trading_hubs=hubs))
    failure = await expect_failure(Stub(channel).CreateCommodity(request), INVALID)
    assert failure.fields == {f"commodity.trading_hubs[{i}]" for i in range(20)}
    assert failure.metadata["violations_omitted"] == "1980"
