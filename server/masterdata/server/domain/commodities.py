"""Rules of commodities, their quality parameters, templates and commission structures.

Pure functions over a candidate (stored values overlaid with the request's changes):
each validator adds every violation it finds, so one BadRequest names them all; each
deriver fills the defaults the contract promises (trade_unit = base_unit, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from typing import Any

import pycountry

from masterdata.server.domain.currencies import is_currency
from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.domain.units import canonical_unit, convertible, find_unit

_HSN = re.compile(r"[0-9]{2}(?:[0-9]{2}){0,3}", re.A)
_HS6 = re.compile(r"[0-9]{6}", re.A)
_HUNDRED = Decimal(100)
#: Each free-form JSON field of a commodity is at most 64 KiB (the proto says so).
MAX_JSON_BYTES = 64 * 1024
_STRUCT_FIELDS = (
    "country_tax_codes",
    "international_grades",
    "certification_required",
    "contract_specifications",
    "export_regulations",
    "import_regulations",
    "harvest_season",
    "storage_conditions",
    "standard_lot_size",
    "min_order_quantity",
)
#: Repeated string field -> (max items, max length per item).
_STRING_LISTS = {
    "quality_standards": (50, 100),
    "trading_hubs": (50, 100),
    "traded_on_exchanges": (50, 100),
}
_COUNTRY_LISTS = ("major_producing_countries", "major_consuming_countries")
#: json.dumps(..., separators=(",", ":")) without building an encoder per call.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))
#: A check's findings: (field, description, reason) in the order they are added.
Problems = tuple[tuple[str, str, str], ...]
#: Distinct inputs remembered by the cached checks below: a bulk import repeats the
#: same units, currencies and countries row after row.
_CHECK_CACHE_SIZE = 4096


@cache
def _country_codes() -> frozenset[str]:
    # Lower case, as pycountry's own (case-insensitive) alpha_2 index has them.
    return frozenset(country.alpha_2.lower() for country in pycountry.countries)


def is_country(code: str) -> bool:
    """True for an ISO 3166 alpha-2 code such as IN or US (upper case)."""
    return len(code) == 2 and code.lower() in _country_codes()


# ---- commodities ------------------------------------------------------------------


def json_size(document: Any) -> int:
    """The length of a JSON document as MAX_JSON_BYTES counts it (compact, ASCII)."""
    return len(_COMPACT_JSON.encode(document))


def validate_commodity(
    values: Mapping[str, Any],
    violations: ViolationCollector,
    *,
    measure: Callable[[Any], int] = json_size,
) -> None:
    """Codes, rates, units, currencies, countries and sizes of a candidate commodity.

    `measure` is json_size, or one that remembers it for documents shared by many
    candidates (a bulk import's rows repeat the same documents).
    """
    check_codes(values, violations)
    _check_percent(values, "gst_rate", violations)
    _check_percent(values, "delivery_tolerance_pct", violations)
    _check_percent(values, "weight_tolerance_pct", violations)
    _check_units(values, violations)
    _check_currencies(values, violations)
    _check_lists(values, violations)
    shelf_life = values.get("shelf_life_days")
    if shelf_life is not None and not 0 <= shelf_life <= 36500:
        violations.add("shelf_life_days", "must be between 0 and 36500", "OUT_OF_RANGE")
    for name in _STRUCT_FIELDS:
        document = values.get(name)
        if document and measure(document) > MAX_JSON_BYTES:
            violations.add(name, "must be at most 64 KiB of JSON", "TOO_LONG")


def _add_all(violations: ViolationCollector, problems: Problems) -> None:
    for field, description, reason in problems:
        violations.add(field, description, reason)


def derive_commodity(values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical unit codes, the unit and currency defaults, upper-case codes."""
    base, trade, rate, pricing = _canonical_units(
        values.get("base_unit") or "KG",
        values.get("trade_unit") or "",
        values.get("rate_unit") or "",
        values.get("international_pricing_unit") or "",
    )
    return {
        "base_unit": base,
        "trade_unit": trade,
        "rate_unit": rate,
        "international_pricing_unit": pricing,
        "default_currency": (values.get("default_currency") or "INR").upper(),
        "supported_currencies": [c.upper() for c in values.get("supported_currencies") or []],
        "major_producing_countries": _upper(values.get("major_producing_countries")),
        "major_consuming_countries": _upper(values.get("major_consuming_countries")),
    }


@lru_cache(maxsize=_CHECK_CACHE_SIZE)
def _canonical_units(base: str, trade: str, rate: str, pricing: str) -> tuple[str, str, str, str]:
    """Base, trade, rate and pricing units canonical; trade defaults to base, rate to trade."""
    base = canonical_unit(base)
    trade = canonical_unit(trade or base)
    rate = canonical_unit(rate or trade)
    return base, trade, rate, canonical_unit(pricing) if pricing else ""


def check_codes(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """HSN and HS codes: digits of the right widths, the HS code a prefix of the HSN."""
    hsn, hs6 = values.get("hsn_code") or "", values.get("hs_code_6digit") or ""
    if hsn and not _HSN.fullmatch(hsn):
        violations.add("hsn_code", "must be 2, 4, 6 or 8 digits", "INVALID_HSN_CODE")
    if hs6 and not _HS6.fullmatch(hs6):
        violations.add("hs_code_6digit", "must be 6 digits", "INVALID_HS_CODE")
    elif hs6 and hsn and _HSN.fullmatch(hsn) and hsn[:6] != hs6:
        violations.add(
            "hs_code_6digit", "must be the first 6 digits of hsn_code", "HS_CODE_MISMATCH"
        )


def _check_percent(values: Mapping[str, Any], name: str, violations: ViolationCollector) -> None:
    value = values.get(name)
    if value is not None and not 0 <= value <= _HUNDRED:
        violations.add(name, "must be between 0 and 100", "OUT_OF_RANGE")


def _check_units(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    weight = values.get("standard_weight_per_unit")
    if weight is not None and weight <= 0:
        violations.add("standard_weight_per_unit", "must be greater than 0", "OUT_OF_RANGE")
    units = (
        values.get("base_unit") or "KG",
        values.get("trade_unit") or "",
        values.get("rate_unit") or "",
        values.get("international_pricing_unit") or "",
    )
    _add_all(violations, _unit_problems(*units, weight is not None and weight > 0))


@lru_cache(maxsize=_CHECK_CACHE_SIZE)
def _unit_problems(base: str, trade: str, rate: str, pricing: str, weighted: bool) -> Problems:
    """Unknown units, and trade/rate units that do not convert to the base unit."""
    problems: list[tuple[str, str, str]] = []
    known_base = find_unit(base) is not None
    if not known_base:
        problems.append(_unknown_unit("base_unit", base))
    for name, unit in (("trade_unit", trade), ("rate_unit", rate)):
        if unit and find_unit(unit) is None:
            problems.append(_unknown_unit(name, unit))
        elif unit and known_base and not convertible(base, unit, weighted):
            description = (
                f"{unit} does not convert to base_unit {base}; use a unit of the same "
                "dimension, or a count unit with standard_weight_per_unit"
            )
            problems.append((name, description, "INCOMPATIBLE_UNIT"))
    if pricing and find_unit(pricing) is None:
        problems.append(_unknown_unit("international_pricing_unit", pricing))
    return tuple(problems)


def _unknown_unit(name: str, unit: str) -> tuple[str, str, str]:
    return name, f"{unit[:40]!r} is not a catalogue unit (see ListUnits)", "UNKNOWN_UNIT"


def _check_currencies(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    default = values.get("default_currency") or ""
    supported = values.get("supported_currencies") or []
    _add_all(violations, _currency_problems(default, tuple(supported)))


@lru_cache(maxsize=_CHECK_CACHE_SIZE)
def _currency_problems(default: str, supported: tuple[Any, ...]) -> Problems:
    problems: list[tuple[str, str, str]] = []
    if default and not is_currency(default.upper()):
        problems.append(("default_currency", "must be an ISO 4217 code", "INVALID_CURRENCY"))
    if len(supported) > 20:
        problems.append(("supported_currencies", "at most 20 currencies", "TOO_MANY"))
    bad = [c for c in supported if not is_currency(str(c).upper())]
    if bad:
        listed = ", ".join(str(c)[:10] for c in bad[:5])
        problems.append(
            ("supported_currencies", f"not ISO 4217 codes: {listed}", "INVALID_CURRENCY")
        )
    elif len({str(c).upper() for c in supported}) != len(supported):
        problems.append(("supported_currencies", "must not repeat a currency", "DUPLICATE"))
    return tuple(problems)


def _check_lists(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    for name in _STRING_LISTS:
        _add_all(violations, _string_list_problems(name, tuple(values.get(name) or [])))
    for name in _COUNTRY_LISTS:
        _add_all(violations, _country_problems(name, tuple(values.get(name) or [])))


@lru_cache(maxsize=_CHECK_CACHE_SIZE)
def _string_list_problems(name: str, items: tuple[Any, ...]) -> Problems:
    max_items, max_length = _STRING_LISTS[name]
    problems: list[tuple[str, str, str]] = []
    if len(items) > max_items:
        problems.append((name, f"at most {max_items} entries", "TOO_MANY"))
    if any(len(item) > max_length or not item.strip() for item in items):
        description = f"entries must be 1-{max_length} non-blank characters"
        problems.append((name, description, "INVALID_ENTRY"))
    return tuple(problems)


@lru_cache(maxsize=_CHECK_CACHE_SIZE)
def _country_problems(name: str, items: tuple[Any, ...]) -> Problems:
    problems: list[tuple[str, str, str]] = []
    if len(items) > 50:
        problems.append((name, "at most 50 countries", "TOO_MANY"))
    bad = [c for c in items if not is_country(str(c).upper())]
    if bad:
        listed = ", ".join(str(c)[:10] for c in bad[:5])
        problems.append((name, f"not ISO 3166 alpha-2 codes: {listed}", "INVALID_COUNTRY"))
    return tuple(problems)


def _upper(items: Iterable[str] | None) -> list[str]:
    return [item.upper() for item in items or []]


# ---- quality parameters and templates --------------------------------------------


def validate_parameter(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """min_value <= max_value; a NUMERIC default is a number within the bounds."""
    low, high = values.get("min_value"), values.get("max_value")
    if low is not None and high is not None and low > high:
        violations.add("min_value", "must be at most max_value", "MIN_GREATER_THAN_MAX")
    default = (values.get("default_value") or "").strip()
    kind = values.get("parameter_type") or "PARAMETER_TYPE_NUMERIC"
    if not default or kind not in ("PARAMETER_TYPE_NUMERIC", "PARAMETER_TYPE_UNSPECIFIED"):
        return
    number = _decimal(default)
    if number is None:
        violations.add("default_value", "must be a decimal number", "INVALID_DECIMAL")
    elif (low is not None and number < low) or (high is not None and number > high):
        violations.add("default_value", "must be within min_value and max_value", "OUT_OF_RANGE")


def derive_parameter(values: Mapping[str, Any]) -> dict[str, Any]:
    """NUMERIC when the type is not given (the proto says so)."""
    kind = values.get("parameter_type") or "PARAMETER_TYPE_UNSPECIFIED"
    return {"parameter_type": "PARAMETER_TYPE_NUMERIC" if kind.endswith("UNSPECIFIED") else kind}


# ---- commission structures ---------------------------------------------------------


def validate_commission(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """Rate by commission type, amounts, currency, per-country rates and tiers."""
    kind = _commission_type(values)
    rate = values.get("rate")
    if kind != "COMMISSION_TYPE_TIERED" and rate is None:
        violations.add("rate", "is required unless commission_type is TIERED", "REQUIRED")
    elif rate is not None and rate < 0:
        violations.add("rate", "must not be negative", "OUT_OF_RANGE")
    elif kind == "COMMISSION_TYPE_PERCENTAGE" and rate is not None and rate > _HUNDRED:
        violations.add("rate", "a percentage must be between 0 and 100", "OUT_OF_RANGE")
    low, high = values.get("min_amount"), values.get("max_amount")
    for name, amount in (("min_amount", low), ("max_amount", high)):
        if amount is not None and amount < 0:
            violations.add(name, "must not be negative", "OUT_OF_RANGE")
    if low is not None and high is not None and low > high:
        violations.add("min_amount", "must be at most max_amount", "MIN_GREATER_THAN_MAX")
    currency = values.get("currency") or ""
    if currency and not is_currency(currency.upper()):
        violations.add("currency", "must be an ISO 4217 code", "INVALID_CURRENCY")
    _check_country_rates(values.get("rate_per_country") or {}, kind, violations)
    _check_tiers(values.get("tiers") or [], kind, violations)


def derive_commission(values: Mapping[str, Any]) -> dict[str, Any]:
    """The documented enum defaults and an upper-case currency."""
    applies_to = values.get("applies_to") or "APPLIES_TO_UNSPECIFIED"
    return {
        "commission_type": _commission_type(values),
        "applies_to": "APPLIES_TO_BOTH" if applies_to.endswith("UNSPECIFIED") else applies_to,
        "currency": (values.get("currency") or "").upper(),
        "rate_per_country": {
            k.upper(): v for k, v in (values.get("rate_per_country") or {}).items()
        }
        or None,
    }


def _commission_type(values: Mapping[str, Any]) -> str:
    kind = values.get("commission_type") or "COMMISSION_TYPE_UNSPECIFIED"
    return "COMMISSION_TYPE_PERCENTAGE" if kind.endswith("UNSPECIFIED") else kind


def _check_country_rates(
    rates: Mapping[str, str], kind: str, violations: ViolationCollector
) -> None:
    if len(rates) > 250:
        violations.add("rate_per_country", "at most 250 entries", "TOO_MANY")
    for country, raw in list(rates.items())[:250]:
        if not is_country(country.upper()):
            violations.add(
                f"rate_per_country[{country[:10]}]", "key must be ISO 3166", "INVALID_COUNTRY"
            )
        rate = _decimal(raw, places=4)
        if rate is None or rate < 0 or (kind == "COMMISSION_TYPE_PERCENTAGE" and rate > _HUNDRED):
            violations.add(
                f"rate_per_country[{country[:10]}]",
                "must be a rate like the structure's: decimal, up to 4 decimals, in range",
                "INVALID_RATE",
            )


def _check_tiers(tiers: list[Mapping[str, Any]], kind: str, violations: ViolationCollector) -> None:
    if kind != "COMMISSION_TYPE_TIERED":
        if tiers:
            violations.add("tiers", "only a TIERED commission has tiers", "UNEXPECTED_TIERS")
        return
    if not tiers:
        violations.add("tiers", "a TIERED commission needs at least one tier", "REQUIRED")
    if len(tiers) > 50:
        violations.add("tiers", "at most 50 tiers", "TOO_MANY")
    previous: Decimal | None = None
    for i, tier in enumerate(tiers[:50]):
        start = _decimal(str(tier.get("min_quantity") or "0"), places=6)
        rate = _decimal(str(tier.get("rate") or ""), places=4)
        if start is None or start < 0:
            violations.add(f"tiers[{i}].min_quantity", "must be a decimal >= 0", "INVALID_DECIMAL")
        elif previous is not None and start <= previous:
            violations.add(
                f"tiers[{i}].min_quantity", "tiers must ascend without repeats", "UNORDERED_TIERS"
            )
        if rate is None or not 0 <= rate <= _HUNDRED:
            violations.add(f"tiers[{i}].rate", "must be a percentage 0-100", "INVALID_RATE")
        previous = start if start is not None else previous


def _decimal(raw: str, places: int = 6) -> Decimal | None:
    """A finite decimal with at most `places` decimals, or None."""
    try:
        value = Decimal(raw.strip()) if len(raw) <= 40 else None
    except InvalidOperation:
        return None
    if value is None or not value.is_finite():
        return None
    exponent = value.as_tuple().exponent
    return value if isinstance(exponent, int) and -exponent <= places else None
