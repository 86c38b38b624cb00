"""The unit catalogue and exact conversion, without I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masterdata.server.domain.errors import InvalidArgument
from masterdata.server.domain.units import (
    BASE_UNITS,
    catalogue,
    convert,
    convertible,
    find_unit,
    format_decimal,
    round_result,
    units,
)

CODES = [u.code for u in catalogue()]


@pytest.mark.parametrize(
    ("quantity", "source", "target", "weight", "expected"),
    [
        ("1", "CANDY", "KG", None, "355.6222"),
        ("10", "BALE", "KG", "165", "1650"),
        ("2.5", "MT", "QTL", None, "25"),
        ("1", "POUND", "KG", None, "0.45359237"),
        ("1", "OUNCE", "KG", None, "0.028349523125"),
        ("1", "TON", "LB", None, "2204.622621848776"),
        ("5", "BAG_JUTE", "QUINTAL", None, "5"),
        ("5", "BAG_JUTE", "QUINTAL", "90", "4.5"),
        ("3", "DOZEN", "KG", "0.5", "18"),
        ("1", "GALLON", "LITER", None, "3.785411784"),
        ("1", "SQ_FOOT", "SQ_METER", None, "0.09290304"),
        ("12", "INCH", "FOOT", None, "1"),
    ],
)
def test_conversion_table(quantity, source, target, weight, expected) -> None:
    result = convert(quantity, source, target, Decimal(weight) if weight else None)
    assert format_decimal(result.quantity) == expected


def test_catalogue_is_consistent_data() -> None:
    assert len(set(CODES)) == len(CODES)
    names = [n for u in catalogue() for n in (u.code, *u.aliases)]
    assert len(set(names)) == len(names), "a name points at two units"
    for dimension, base in BASE_UNITS.items():
        unit = find_unit(base)
        assert unit is not None and unit.dimension == dimension and unit.factor == 1
    assert all(u.dimension == "WEIGHT" for u in catalogue() if u.is_packaging)
    assert [u.code for u in units("COUNT")] == ["PIECE", "BUNDLE", "DOZEN", "GROSS"]
    assert find_unit(" qtl ") is find_unit("QUINTAL")


def test_rounding_and_exactness() -> None:
    third = convert("1", "FOOT", "YARD")
    assert format_decimal(third.quantity) == "0.333333333333" and not third.exact
    assert round_result(Decimal("0.0000000000005"))[0] == Decimal(0)  # half to even
    assert round_result(Decimal("0.0000000000015"))[0] == Decimal("0.000000000002")
    assert format_decimal(Decimal("1E+3")) == "1000"
    assert format_decimal(Decimal("-0.00")) == "0"


def test_errors_name_the_fields() -> None:
    with pytest.raises(InvalidArgument) as raised:
        convert("x", "FURLONG", "KG")
    assert {v.field for v in raised.value.violations} == {"quantity", "from_unit"}
    with pytest.raises(InvalidArgument) as raised:
        convert("1", "KG", "METER")
    assert raised.value.reason == "INCOMPATIBLE_UNITS"
    with pytest.raises(InvalidArgument) as raised:
        convert("1", "PIECE", "BALE")
    assert raised.value.reason == "STANDARD_WEIGHT_REQUIRED"
    assert convertible("PIECE", "BALE", True) and not convertible("PIECE", "METER", True)


@given(
    st.decimals(min_value=-(10**12), max_value=10**12, places=6, allow_nan=False),
    st.sampled_from(CODES),
    st.sampled_from(CODES),
)
def test_round_trip_of_exact_conversions(quantity: Decimal, source: str, target: str) -> None:
    if not convertible(source, target, False):
        return
    there = convert(str(quantity), source, target)
    if there.exact:
        back = convert(str(there.quantity), target, source)
        assert back.quantity == quantity
