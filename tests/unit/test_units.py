"""The unit catalogue and exact conversion, without I/O."""

from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction

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
    magnitudes,
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
    # Half to even, at the 12th decimal from 0.1 up and the 12th significant digit below.
    assert round_result(Fraction("0.1234567890125")) == (Decimal("0.123456789012"), False)
    assert round_result(Fraction("0.1234567890135")) == (Decimal("0.123456789014"), False)
    assert round_result(Fraction("0.01234567890125")) == (Decimal("0.0123456789012"), False)
    assert round_result(Fraction("0.0000000000005")) == (Decimal("5E-13"), True)
    assert round_result(Fraction(-1, 3)) == (Decimal("-0.333333333333"), False)
    assert round_result(Fraction(1, 30)) == (Decimal("0.0333333333333"), False)
    assert round_result(Fraction("0.0999999999999995")) == (Decimal("0.1"), False)
    # 40 digits and 12 decimals: no context's precision (28 by default) rounds them away.
    assert round_result(Fraction(10**40 + 2, 3)) == (Decimal("3" * 39 + "4"), True)
    assert round_result(Fraction(10**40 + 1, 3))[0] == Decimal("3" * 40 + ".666666666667")
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


@pytest.mark.parametrize(
    ("quantity", "source", "target", "expected", "factor", "exact"),
    [
        # Small results keep twelve significant digits: exact ones stay exact.
        ("1", "OUNCE", "MT", "0.000028349523125", "0.000028349523125", True),
        ("1000000", "OUNCE", "MT", "28.349523125", "0.000028349523125", True),
        ("1", "OUNCE", "QUINTAL", "0.00028349523125", "0.00028349523125", True),
        ("1", "GRAM", "CANDY", "0.00000281197293082", "0.00000281197293082", False),
        ("7", "CM", "YARD", "0.0765529308836", "0.0109361329834", False),
        ("1E-30", "KG", "GRAM", "0.000000000000000000000000001", "1000", True),
        # From 0.1 up, twelve decimals, as before.
        ("1", "KG", "POUND", "2.204622621849", "2.204622621849", False),
        ("3", "FOOT", "YARD", "1", "0.333333333333", True),
    ],
)
def test_quantity_and_factor_follow_one_rule(quantity, source, target, expected, factor, exact):
    result = convert(quantity, source, target)
    assert (format_decimal(result.quantity), format_decimal(result.factor), result.exact) == (
        expected,
        factor,
        exact,
    )


def test_terminating_factors_of_twelve_digits_are_exact() -> None:
    """Every ratio of two catalogue units that is a decimal of at most 12 significant
    digits is reported as it is (ounce to ton used to lose its last three)."""
    for source in catalogue():
        for target in units(source.dimension):
            exact = Fraction(source.factor) / Fraction(target.factor)
            written = Decimal(exact.numerator) / Decimal(exact.denominator)
            if Fraction(written) != exact or len(written.normalize().as_tuple().digits) > 12:
                continue
            reported = convert("1", source.code, target.code)
            assert Fraction(reported.factor) == exact, (source.code, target.code)
            assert Fraction(reported.quantity) == exact and reported.exact


def _expected_places(exact: Fraction) -> int:
    """Where the rule rounds, found independently with 200-digit decimals."""
    context = decimal.Context(prec=200)
    value = context.divide(Decimal(abs(exact.numerator)), Decimal(exact.denominator))
    return max(12, 11 - value.adjusted())


@given(
    st.decimals(min_value=-(10**15), max_value=10**15, places=9, allow_nan=False),
    st.sampled_from(CODES),
    st.sampled_from(CODES),
    st.one_of(st.none(), st.decimals(min_value="0.000001", max_value=10**6, places=6)),
)
def test_results_are_the_exact_value_rounded_once(
    quantity: Decimal, source: str, target: str, weight: Decimal | None
) -> None:
    if not convertible(source, target, weight is not None):
        return
    result = convert(str(quantity), source, target, weight)
    a, b = find_unit(source), find_unit(target)
    assert a is not None and b is not None
    sizes = magnitudes(a, b, weight)
    assert sizes is not None
    ratio = Fraction(sizes[0]) / Fraction(sizes[1])
    for got, exact in ((result.quantity, Fraction(quantity) * ratio), (result.factor, ratio)):
        if not exact:
            assert got == 0
            continue
        scale = 10 ** _expected_places(exact)
        # At most half a unit of the last kept place away, and nothing beyond that place.
        assert abs(Fraction(got) - exact) * scale <= Fraction(1, 2)
        assert (Fraction(got) * scale).denominator == 1
    assert result.exact == (Fraction(result.quantity) == Fraction(quantity) * ratio)
