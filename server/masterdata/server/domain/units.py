"""The unit catalogue and exact decimal conversion between its units.

The catalogue is data: one row per unit with its dimension and its factor to the
dimension's base unit, written as decimal strings so that no float ever touches a
quantity. Conversion is `quantity * factor(from) / factor(to)`; the only rule beyond
that is how a commodity's standard weight per unit (one bale, bag or piece in KG)
weighs packaging and count units.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import cache

from masterdata.server.domain.errors import FieldViolation, InvalidArgument

#: Dimension -> its base unit; the order is the order of ListUnits.
BASE_UNITS = {
    "WEIGHT": "KG",
    "LENGTH": "METER",
    "VOLUME": "LITER",
    "COUNT": "PIECE",
    "AREA": "SQ_METER",
}

#: code, aliases, dimension, factor to base, is_packaging, description
_CATALOGUE: tuple[tuple[str, tuple[str, ...], str, str, bool, str], ...] = (
    ("KG", ("KGS", "KILOGRAM"), "WEIGHT", "1", False, "Kilogram"),
    ("GRAM", ("G", "GM"), "WEIGHT", "0.001", False, "Gram"),
    ("QUINTAL", ("QTL",), "WEIGHT", "100", False, "Quintal (100 kg)"),
    ("MT", ("TON", "TONNE"), "WEIGHT", "1000", False, "Metric ton (1000 kg)"),
    ("CANDY", (), "WEIGHT", "355.6222", False, "Candy (Indian cotton trade convention)"),
    ("MAUND", (), "WEIGHT", "37.324", False, "Maund (Indian, 37.324 kg)"),
    ("POUND", ("LB", "LBS"), "WEIGHT", "0.45359237", False, "Avoirdupois pound"),
    ("OUNCE", ("OZ",), "WEIGHT", "0.028349523125", False, "Avoirdupois ounce"),
    ("BALE", (), "WEIGHT", "170", True, "Bale (cotton: 170 kg by default)"),
    ("BAG", (), "WEIGHT", "50", True, "Bag"),
    ("BAG_JUTE", (), "WEIGHT", "100", True, "Jute bag"),
    ("SACK", (), "WEIGHT", "50", True, "Sack"),
    ("BOX", (), "WEIGHT", "10", True, "Box"),
    ("CARTON", (), "WEIGHT", "20", True, "Carton"),
    ("DRUM", (), "WEIGHT", "200", True, "Drum"),
    ("METER", ("METRE",), "LENGTH", "1", False, "Meter"),
    ("CM", ("CENTIMETER",), "LENGTH", "0.01", False, "Centimeter"),
    ("KM", ("KILOMETER",), "LENGTH", "1000", False, "Kilometer"),
    ("YARD", ("YD",), "LENGTH", "0.9144", False, "International yard"),
    ("FOOT", ("FT", "FEET"), "LENGTH", "0.3048", False, "International foot"),
    ("INCH", ("IN",), "LENGTH", "0.0254", False, "International inch"),
    ("LITER", ("LITRE", "L"), "VOLUME", "1", False, "Liter"),
    ("ML", ("MILLILITER",), "VOLUME", "0.001", False, "Milliliter"),
    ("GALLON", ("GAL",), "VOLUME", "3.785411784", False, "US liquid gallon"),
    ("BARREL", ("BBL",), "VOLUME", "158.987294928", False, "Oil barrel (42 US gallons)"),
    ("PIECE", ("PCS", "PC"), "COUNT", "1", False, "Piece"),
    ("DOZEN", ("DOZ",), "COUNT", "12", False, "Dozen"),
    ("GROSS", (), "COUNT", "144", False, "Gross (144 pieces)"),
    ("BUNDLE", (), "COUNT", "10", False, "Bundle (10 pieces)"),
    ("SQ_METER", ("SQM",), "AREA", "1", False, "Square meter"),
    ("SQ_FOOT", ("SQFT",), "AREA", "0.09290304", False, "Square foot"),
    ("SQ_YARD", ("SQYD",), "AREA", "0.83612736", False, "Square yard"),
)

#: A result (quantity or factor) keeps this many decimals, or this many significant
#: digits when that keeps more (below 0.1); see round_result. The proto says so.
KEPT_DIGITS = 12
#: Quantities beyond this magnitude are refused (formatting 1E+999999 would be a DoS).
MAX_EXPONENT = 30
# Exact for every product of catalogue factors and standard weights (at most 20
# digits), and room to print any result: 30 + 12 + 6 integer digits and 12 decimals.
_CONTEXT = decimal.Context(prec=80, rounding=decimal.ROUND_HALF_EVEN)


@dataclass(frozen=True)
class Unit:
    """One catalogue unit; `factor` is how many base units one of it is."""

    code: str
    aliases: tuple[str, ...]
    dimension: str
    factor: Decimal
    is_packaging: bool
    description: str

    @property
    def base_unit(self) -> str:
        return BASE_UNITS[self.dimension]


@dataclass(frozen=True)
class Conversion:
    """A converted quantity and the factor it was converted by, both rounded by
    round_result; `exact` is False when quantity was rounded (factor may be rounded,
    as 1/3, while quantity is exact: quantity comes from the exact factor)."""

    quantity: Decimal
    unit: str
    factor: Decimal
    exact: bool


@cache
def catalogue() -> tuple[Unit, ...]:
    """Every unit, by dimension (BASE_UNITS order) and then factor."""
    units = [Unit(c, a, d, Decimal(f), p, text) for c, a, d, f, p, text in _CATALOGUE]
    order = list(BASE_UNITS)
    return tuple(sorted(units, key=lambda u: (order.index(u.dimension), u.factor, u.code)))


@cache
def _by_name() -> dict[str, Unit]:
    return {name: unit for unit in catalogue() for name in (unit.code, *unit.aliases)}


def units(dimension: str = "") -> list[Unit]:
    """The catalogue, or the units of one dimension."""
    return [u for u in catalogue() if not dimension or u.dimension == dimension]


def find_unit(name: str) -> Unit | None:
    """The unit with this code or alias (case-insensitive), or None."""
    return _by_name().get(name.strip().upper())


def unit_violation(field: str, name: str) -> FieldViolation:
    shown = name[:40]
    return FieldViolation(
        field, f"{shown!r} is not a catalogue unit (see ListUnits)", "UNKNOWN_UNIT"
    )


def canonical_unit(name: str) -> str:
    """The canonical code of a known unit; unknown names are returned unchanged."""
    unit = find_unit(name)
    return unit.code if unit else name


def weight_in_kg(unit: Unit, standard_weight: Decimal | None) -> Decimal | None:
    """KG per one `unit`, or None when it is not weighable.

    A commodity's standard weight per unit is the weight of one of its packages or
    pieces, so it replaces the catalogue default of every packaging unit and makes
    count units weighable (a dozen weighs twelve pieces).
    """
    if unit.dimension == "WEIGHT":
        if unit.is_packaging and standard_weight is not None:
            return standard_weight
        return unit.factor
    if unit.dimension == "COUNT" and standard_weight is not None:
        return _CONTEXT.multiply(unit.factor, standard_weight)
    return None


def magnitudes(
    source: Unit, target: Unit, standard_weight: Decimal | None = None
) -> tuple[Decimal, Decimal] | None:
    """Sizes of one source and one target unit in a shared base, or None if not convertible.

    Same-dimension units share their dimension's base; weight goes through KG so that
    packaging units take the standard weight; weight and count meet only through it.
    """
    if source.dimension == target.dimension and source.dimension != "WEIGHT":
        return source.factor, target.factor
    source_kg = weight_in_kg(source, standard_weight)
    target_kg = weight_in_kg(target, standard_weight)
    if source_kg is None or target_kg is None:
        return None
    return source_kg, target_kg


def convertible(source: str, target: str, has_standard_weight: bool) -> bool:
    """Whether two known units convert, with or without a commodity's standard weight."""
    a, b = find_unit(source), find_unit(target)
    if a is None or b is None:
        return False
    return magnitudes(a, b, Decimal(1) if has_standard_weight else None) is not None


def parse_quantity(raw: str, field: str = "quantity") -> Decimal:
    """A finite decimal of sane magnitude, or INVALID_ARGUMENT naming `field`."""
    text = raw.strip()
    try:
        value = Decimal(text) if 0 < len(text) <= 60 else None
    except decimal.InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise _invalid(field, "must be a decimal number such as 12.5", "INVALID_DECIMAL")
    if value and abs(value.adjusted()) > MAX_EXPONENT:
        raise _invalid(
            field, f"must be within 1E-{MAX_EXPONENT} and 1E+{MAX_EXPONENT}", "OUT_OF_RANGE"
        )
    return value


def convert(
    quantity: str, from_unit: str, to_unit: str, standard_weight: Decimal | None = None
) -> Conversion:
    """Convert exactly; INVALID_ARGUMENT naming every bad input, or across dimensions."""
    violations: list[FieldViolation] = []
    try:
        value = parse_quantity(quantity)
    except InvalidArgument as error:
        violations.extend(error.violations)
    source, target = find_unit(from_unit), find_unit(to_unit)
    for field, name, unit in (("from_unit", from_unit, source), ("to_unit", to_unit, target)):
        if unit is None:
            violations.append(unit_violation(field, name))
    if violations or source is None or target is None:
        raise InvalidArgument("cannot convert: invalid fields", violations=violations)
    sizes = magnitudes(source, target, standard_weight)
    if sizes is None:
        raise _cross_dimension(source, target)
    ratio = Fraction(sizes[0]) / Fraction(sizes[1])
    result, exact = round_result(Fraction(value) * ratio)
    factor, _ = round_result(ratio)
    return Conversion(result, target.code, factor, exact)


def round_result(value: Fraction) -> tuple[Decimal, bool]:
    """`value` rounded half to even at decimal place max(12, 11 - e), e = floor(log10|value|).

    That is twelve decimals from 0.1 up and twelve significant digits below, so a
    small factor (1 OUNCE = 0.000028349523125 MT) keeps its digits instead of fading
    to a few. `value` is the exact rational result and the rounding is done on
    integers: one rounding, never a rounded division rounded again. Also returns
    whether nothing was lost.
    """
    if not value:
        return Decimal(0), True
    places = max(KEPT_DIGITS, KEPT_DIGITS - 1 - _leading_exponent(value))
    scaled = value * 10**places
    rounded = round(scaled)  # Fraction rounds half to even
    # The string constructor is exact; arithmetic would round to a context's precision.
    return Decimal(f"{rounded}E-{places}"), rounded == scaled


def _leading_exponent(value: Fraction) -> int:
    """floor(log10(|value|)) of a non-zero fraction, exactly."""
    numerator, denominator = abs(value.numerator), value.denominator
    guess = len(str(numerator)) - len(str(denominator))  # the answer or one more
    if guess >= 0:
        below = numerator < denominator * 10**guess
    else:
        below = numerator * 10**-guess < denominator
    return guess - 1 if below else guess


def format_decimal(value: Decimal) -> str:
    """Plain notation without trailing zeros or exponent: 25, 355.6222, 0.001."""
    if not value:
        return "0"
    return format(value.normalize(_CONTEXT), "f")


def _cross_dimension(source: Unit, target: Unit) -> InvalidArgument:
    needs_weight = {source.dimension, target.dimension} == {"WEIGHT", "COUNT"}
    description = (
        f"{source.code} ({source.dimension.lower()}) and {target.code} "
        f"({target.dimension.lower()}) convert only through a commodity's "
        "standard_weight_per_unit"
        if needs_weight
        else f"cannot convert {source.dimension.lower()} ({source.code}) to "
        f"{target.dimension.lower()} ({target.code})"
    )
    reason = "STANDARD_WEIGHT_REQUIRED" if needs_weight else "INCOMPATIBLE_UNITS"
    return InvalidArgument(description, violations=[FieldViolation("to_unit", description, reason)])


def _invalid(field: str, description: str, reason: str) -> InvalidArgument:
    return InvalidArgument(
        f"{field} {description}", violations=[FieldViolation(field, description, reason)]
    )
