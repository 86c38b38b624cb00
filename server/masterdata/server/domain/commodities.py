"""Rules of commodities, their quality parameters, templates and commission structures.

Pure functions over a candidate (stored values overlaid with the request's changes):
each validator adds every violation it finds, so one BadRequest names them all; each
deriver fills the defaults the contract promises (trade_unit = base_unit, ...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
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


def is_country(code: str) -> bool:
    """True for an ISO 3166 alpha-2 code such as IN or US (upper case)."""
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


# ---- commodities ------------------------------------------------------------------


def validate_commodity(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """Codes, rates, units, currencies, countries and sizes of a candidate commodity."""
    _check_codes(values, violations)
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
        if document and len(json.dumps(document, separators=(",", ":"))) > MAX_JSON_BYTES:
            violations.add(name, "must be at most 64 KiB of JSON", "TOO_LONG")


def derive_commodity(values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical unit codes, the unit and currency defaults, upper-case codes."""
    base = canonical_unit(values.get("base_unit") or "KG")
    trade = canonical_unit(values.get("trade_unit") or base)
    rate = canonical_unit(values.get("rate_unit") or trade)
    pricing = values.get("international_pricing_unit") or ""
    return {
        "base_unit": base,
        "trade_unit": trade,
        "rate_unit": rate,
        "international_pricing_unit": canonical_unit(pricing) if pricing else "",
        "default_currency": (values.get("default_currency") or "INR").upper(),
        "supported_currencies": [c.upper() for c in values.get("supported_currencies") or []],
        "major_producing_countries": _upper(values.get("major_producing_countries")),
        "major_consuming_countries": _upper(values.get("major_consuming_countries")),
    }


def _check_codes(values: Mapping[str, Any], violations: ViolationCollector) -> None:
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
    base = values.get("base_unit") or "KG"
    if find_unit(base) is None:
        _unknown_unit(violations, "base_unit", base)
    for name in ("trade_unit", "rate_unit", "international_pricing_unit"):
        unit = values.get(name) or ""
        if unit and find_unit(unit) is None:
            _unknown_unit(violations, name, unit)
        elif (
            name != "international_pricing_unit"
            and unit
            and find_unit(base) is not None
            and not convertible(base, unit, weight is not None and weight > 0)
        ):
            violations.add(
                name,
                f"{unit} does not convert to base_unit {base}; use a unit of the same "
                "dimension, or a count unit with standard_weight_per_unit",
                "INCOMPATIBLE_UNIT",
            )


def _unknown_unit(violations: ViolationCollector, name: str, unit: str) -> None:
    violations.add(name, f"{unit[:40]!r} is not a catalogue unit (see ListUnits)", "UNKNOWN_UNIT")


def _check_currencies(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    default = values.get("default_currency") or ""
    if default and not is_currency(default.upper()):
        violations.add("default_currency", "must be an ISO 4217 code", "INVALID_CURRENCY")
    supported = values.get("supported_currencies") or []
    if len(supported) > 20:
        violations.add("supported_currencies", "at most 20 currencies", "TOO_MANY")
    bad = [c for c in supported if not is_currency(str(c).upper())]
    if bad:
        violations.add(
            "supported_currencies",
            f"not ISO 4217 codes: {', '.join(str(c)[:10] for c in bad[:5])}",
            "INVALID_CURRENCY",
        )
    elif len({str(c).upper() for c in supported}) != len(supported):
        violations.add("supported_currencies", "must not repeat a currency", "DUPLICATE")


def _check_lists(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    for name, (max_items, max_length) in _STRING_LISTS.items():
        items = values.get(name) or []
        if len(items) > max_items:
            violations.add(name, f"at most {max_items} entries", "TOO_MANY")
        if any(len(item) > max_length or not item.strip() for item in items):
            violations.add(
                name, f"entries must be 1-{max_length} non-blank characters", "INVALID_ENTRY"
            )
    for name in _COUNTRY_LISTS:
        items = values.get(name) or []
        if len(items) > 50:
            violations.add(name, "at most 50 countries", "TOO_MANY")
        bad = [c for c in items if not is_country(str(c).upper())]
        if bad:
            violations.add(
                name,
                f"not ISO 3166 alpha-2 codes: {', '.join(str(c)[:10] for c in bad[:5])}",
                "INVALID_COUNTRY",
            )


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
