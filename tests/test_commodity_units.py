"""ListUnits and ConvertQuantity through the server, on both backends."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc import aio
from support import expect_failure

from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

INVALID = grpc.StatusCode.INVALID_ARGUMENT

#: quantity, from, to, expected quantity, expected factor, exact
TABLE = [
    ("1", "CANDY", "KG", "355.6222", "355.6222", True),
    ("2.5", "MT", "QTL", "25", "10", True),
    ("1", "POUND", "KG", "0.45359237", "0.45359237", True),
    ("100", "lb", "kg", "45.359237", "0.45359237", True),
    ("16", "OUNCE", "POUND", "1", "0.0625", True),
    ("1", "MAUND", "KG", "37.324", "37.324", True),
    ("1", "KG", "POUND", "2.204622621849", "2.204622621849", False),
    ("1000", "GRAM", "KG", "1", "0.001", True),
    ("1", "BARREL", "GALLON", "42", "42", True),
    ("3", "FOOT", "YARD", "1", "0.333333333333", True),
    ("1", "SQ_YARD", "SQ_FOOT", "9", "9", True),
    ("2", "GROSS", "DOZEN", "24", "12", True),
    ("1", "BALE", "KG", "170", "170", True),
    ("0", "KM", "CM", "0", "100000", True),
    ("-1.5", "KM", "METER", "-1500", "1000", True),
    # Below 0.1 a result keeps twelve significant digits: exact stays exact.
    ("1", "OUNCE", "MT", "0.000028349523125", "0.000028349523125", True),
    ("1000000", "OUNCE", "MT", "28.349523125", "0.000028349523125", True),
    ("1", "GRAM", "CANDY", "0.00000281197293082", "0.00000281197293082", False),
    ("7", "CM", "YARD", "0.0765529308836", "0.0109361329834", False),
]


@pytest.fixture
def stub(channel: aio.Channel) -> commodity_pb2_grpc.CommodityServiceStub:
    return commodity_pb2_grpc.CommodityServiceStub(channel)


def convert(stub, quantity: str, source: str, target: str, commodity_id: str = ""):
    return stub.ConvertQuantity(
        pb.ConvertQuantityRequest(
            quantity=quantity, from_unit=source, to_unit=target, commodity_id=commodity_id
        )
    )


async def test_list_units_whole_catalogue_and_by_dimension(stub) -> None:
    units = (await stub.ListUnits(pb.ListUnitsRequest())).units
    by_code = {u.code: u for u in units}
    assert by_code["CANDY"].factor == "355.6222" and by_code["CANDY"].base_unit == "KG"
    assert list(by_code["QUINTAL"].aliases) == ["QTL"]
    assert by_code["BALE"].is_packaging and not by_code["KG"].is_packaging
    assert by_code["GALLON"].dimension == pb.UNIT_DIMENSION_VOLUME
    dimensions = [u.dimension for u in units]
    assert dimensions == sorted(dimensions)  # by dimension, then factor
    lengths = await stub.ListUnits(pb.ListUnitsRequest(dimension=pb.UNIT_DIMENSION_LENGTH))
    assert [u.code for u in lengths.units] == ["CM", "INCH", "FOOT", "YARD", "METER", "KM"]
    bad = await expect_failure(stub.ListUnits(pb.ListUnitsRequest(dimension=42)), INVALID)
    assert bad.fields == {"dimension"}


async def test_conversion_table(stub) -> None:
    for quantity, source, target, expected, factor, exact in TABLE:
        reply = await convert(stub, quantity, source, target)
        assert (reply.quantity, reply.factor, reply.exact) == (expected, factor, exact), (
            quantity,
            source,
            target,
        )
    assert (await convert(stub, "1", "qtl", "ton")).unit == "MT"


async def test_packaging_and_count_units_use_the_commodity_standard_weight(stub) -> None:
    request = pb.CreateCommodityRequest(
        commodity=pb.Commodity(
            name="Cotton", category="Fibre", trade_unit="BALE", standard_weight_per_unit="165"
        )
    )
    cotton = (await stub.CreateCommodity(request)).commodity
    reply = await convert(stub, "10", "BALE", "KG", cotton.id)
    assert (reply.quantity, reply.unit, reply.exact) == ("1650", "KG", True)
    assert (await convert(stub, "1650", "KG", "BALE", cotton.id)).quantity == "10"
    assert (await convert(stub, "2", "PIECE", "QTL", cotton.id)).quantity == "3.3"
    # Without a commodity a bale weighs the catalogue's 170 kg; pieces weigh nothing known.
    assert (await convert(stub, "10", "BALE", "KG")).quantity == "1700"
    failure = await expect_failure(convert(stub, "2", "PIECE", "KG"), INVALID)
    assert failure.reason == "STANDARD_WEIGHT_REQUIRED"
    missing = await expect_failure(
        convert(stub, "1", "BALE", "KG", str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND
    )
    assert missing.reason == "COMMODITY_NOT_FOUND"


async def test_invalid_conversions(stub) -> None:
    across = await expect_failure(convert(stub, "1", "KG", "METER"), INVALID)
    assert across.reason == "INCOMPATIBLE_UNITS" and across.fields == {"to_unit"}
    await expect_failure(convert(stub, "1", "LITER", "SQ_METER"), INVALID)
    everything = await expect_failure(convert(stub, "abc", "FURLONG", ""), INVALID)
    assert everything.fields == {"quantity", "from_unit", "to_unit"}
    for quantity in ("", "NaN", "Infinity", "1e999", "1" * 61):
        bad = await expect_failure(convert(stub, quantity, "KG", "MT"), INVALID)
        assert bad.fields == {"quantity"}, quantity
    await expect_failure(convert(stub, "1", "KG", "MT", "nope"), INVALID)


async def test_a_light_commodity_converts_by_the_same_rule(stub) -> None:
    """The standard weight read back from either backend goes through the same rule."""
    request = pb.CreateCommodityRequest(
        commodity=pb.Commodity(
            name="Cotton seed",
            category="Seed",
            base_unit="KG",
            trade_unit="PIECE",
            standard_weight_per_unit="0.000125",
        )
    )
    seed = (await stub.CreateCommodity(request)).commodity
    reply = await convert(stub, "1", "PIECE", "OUNCE", seed.id)
    assert (reply.quantity, reply.factor, reply.exact) == (
        "0.0044092452437",
        "0.0044092452437",
        False,
    )
    reply = await convert(stub, "3", "DOZEN", "MT", seed.id)
    assert (reply.quantity, reply.factor, reply.exact) == ("0.0000045", "0.0000015", True)
