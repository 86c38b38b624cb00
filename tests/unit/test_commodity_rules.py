"""Commodity, parameter and commission rules, without I/O."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from masterdata.server.domain.commodities import (
    derive_commission,
    derive_commodity,
    derive_parameter,
    validate_commission,
    validate_commodity,
    validate_parameter,
)
from masterdata.server.domain.errors import ViolationCollector


def violations(validate, **values: Any) -> dict[str, str]:
    collector = ViolationCollector()
    validate(values, collector)
    return {v.field: v.reason for v in collector.violations}


@pytest.mark.parametrize("hsn", ["52", "5201", "520100", "52010010"])
def test_hsn_lengths(hsn: str) -> None:
    assert violations(validate_commodity, hsn_code=hsn) == {}


@pytest.mark.parametrize(
    "hsn", ["5", "520", "52010", "5201001", "520100100", "52O1", "\uff15\uff12"]
)  # the last: fullwidth digits
def test_bad_hsn(hsn: str) -> None:
    assert violations(validate_commodity, hsn_code=hsn) == {"hsn_code": "INVALID_HSN_CODE"}


def test_hs_code_is_the_hsn_prefix() -> None:
    assert violations(validate_commodity, hsn_code="52010010", hs_code_6digit="520100") == {}
    assert violations(validate_commodity, hs_code_6digit="520100") == {}
    mismatch = violations(validate_commodity, hsn_code="52010010", hs_code_6digit="520200")
    assert mismatch == {"hs_code_6digit": "HS_CODE_MISMATCH"}
    assert violations(validate_commodity, hsn_code="5201", hs_code_6digit="520100") == mismatch
    assert violations(validate_commodity, hs_code_6digit="5201") == {
        "hs_code_6digit": "INVALID_HS_CODE"
    }


@pytest.mark.parametrize("name", ["gst_rate", "delivery_tolerance_pct", "weight_tolerance_pct"])
def test_percentages(name: str) -> None:
    for ok in ("0", "100", "5.25"):
        assert violations(validate_commodity, **{name: Decimal(ok)}) == {}
    for bad in ("-0.01", "100.01"):
        assert violations(validate_commodity, **{name: Decimal(bad)}) == {name: "OUT_OF_RANGE"}


def test_unit_compatibility() -> None:
    ok = [
        {"base_unit": "KG", "trade_unit": "candy", "rate_unit": "QTL"},
        {"base_unit": "KG", "trade_unit": "BALE"},  # packaging is weight
        {"base_unit": "KG", "trade_unit": "PIECE", "standard_weight_per_unit": Decimal("2")},
        {"base_unit": "LITER", "trade_unit": "BARREL", "international_pricing_unit": "LB"},
    ]
    for values in ok:
        assert violations(validate_commodity, **values) == {}, values
    assert violations(validate_commodity, trade_unit="PIECE") == {"trade_unit": "INCOMPATIBLE_UNIT"}
    assert violations(validate_commodity, base_unit="METER", rate_unit="KG") == {
        "rate_unit": "INCOMPATIBLE_UNIT"
    }
    assert violations(validate_commodity, base_unit="X", trade_unit="Y") == {
        "base_unit": "UNKNOWN_UNIT",
        "trade_unit": "UNKNOWN_UNIT",
    }
    assert violations(validate_commodity, standard_weight_per_unit=Decimal(0)) == {
        "standard_weight_per_unit": "OUT_OF_RANGE"
    }


def test_currencies_countries_and_lists() -> None:
    found = violations(
        validate_commodity,
        default_currency="RUPEE",
        supported_currencies=["USD", "usd"],
        major_producing_countries=["IN", "XX"],
        trading_hubs=["Rajkot", " "],
        traded_on_exchanges=["MCX"] * 51,
        shelf_life_days=36501,
    )
    assert found == {
        "default_currency": "INVALID_CURRENCY",
        "supported_currencies": "DUPLICATE",
        "major_producing_countries": "INVALID_COUNTRY",
        "trading_hubs": "INVALID_ENTRY",
        "traded_on_exchanges": "TOO_MANY",
        "shelf_life_days": "OUT_OF_RANGE",
    }
    big = {"notes": "x" * (64 * 1024)}
    assert violations(validate_commodity, harvest_season=big) == {"harvest_season": "TOO_LONG"}


def test_commodity_defaults() -> None:
    derived = derive_commodity({"trade_unit": "qtl", "supported_currencies": ["usd"]})
    assert derived["base_unit"] == "KG" and derived["trade_unit"] == "QUINTAL"
    assert derived["rate_unit"] == "QUINTAL" and derived["default_currency"] == "INR"
    assert derived["supported_currencies"] == ["USD"]


def test_parameter_rules() -> None:
    low, high = Decimal(3), Decimal(5)
    assert violations(validate_parameter, min_value=low, max_value=high, default_value="4") == {}
    assert violations(validate_parameter, min_value=high, max_value=low) == {
        "min_value": "MIN_GREATER_THAN_MAX"
    }
    assert violations(validate_parameter, min_value=low, default_value="2") == {
        "default_value": "OUT_OF_RANGE"
    }
    assert violations(validate_parameter, default_value="high") == {
        "default_value": "INVALID_DECIMAL"
    }
    text = {"parameter_type": "PARAMETER_TYPE_TEXT", "default_value": "white"}
    assert violations(validate_parameter, **text) == {}
    assert derive_parameter({}) == {"parameter_type": "PARAMETER_TYPE_NUMERIC"}


def test_commission_rules() -> None:
    assert violations(validate_commission, rate=Decimal(1), currency="USD") == {}
    assert violations(validate_commission) == {"rate": "REQUIRED"}
    assert violations(validate_commission, rate=Decimal(101)) == {"rate": "OUT_OF_RANGE"}
    fixed = {"commission_type": "COMMISSION_TYPE_FIXED", "rate": Decimal(500)}
    assert violations(validate_commission, **fixed) == {}
    tiers = [{"min_quantity": "100", "rate": "1"}, {"min_quantity": "50", "rate": "101"}]
    tiered = violations(validate_commission, commission_type="COMMISSION_TYPE_TIERED", tiers=tiers)
    assert tiered == {"tiers[1].min_quantity": "UNORDERED_TIERS", "tiers[1].rate": "INVALID_RATE"}
    amounts = violations(
        validate_commission, rate=Decimal(1), min_amount=Decimal(5), max_amount=Decimal(1)
    )
    assert amounts == {"min_amount": "MIN_GREATER_THAN_MAX"}
    rates = violations(validate_commission, rate=Decimal(1), rate_per_country={"IN": "1.00001"})
    assert rates == {"rate_per_country[IN]": "INVALID_RATE"}
    derived = derive_commission({"currency": "usd", "rate_per_country": {"bd": "1"}})
    assert derived["commission_type"] == "COMMISSION_TYPE_PERCENTAGE"
    assert derived["applies_to"] == "APPLIES_TO_BOTH"
    assert derived["currency"] == "USD" and derived["rate_per_country"] == {"BD": "1"}
