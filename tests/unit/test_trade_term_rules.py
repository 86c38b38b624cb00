"""Trade-term rules as pure functions: no database, no server."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from masterdata.server.domain.errors import InvalidArgument, ViolationCollector
from masterdata.server.domain.trade_terms import (
    normalize_trade_term,
    validate_payment_term,
    validate_trade_term,
    validate_weightment_term,
)


def violations_of(rule: Any, **values: Any) -> dict[str, str]:
    collector = ViolationCollector("term")
    rule(values, collector)
    return {v.field.removeprefix("term."): v.reason for v in collector.violations}


@pytest.mark.parametrize("code", ["", "FOB", "fob", "NET30", "LC-SIGHT", "EX_WORKS", "A" * 50])
def test_valid_codes(code: str) -> None:
    assert violations_of(validate_trade_term, code=code) == {}


@pytest.mark.parametrize("code", ["F O B", "NET/30", "ÉCU", "FOB.", "30%", "fob\t"])
def test_invalid_codes(code: str) -> None:
    assert violations_of(validate_trade_term, code=code) == {"code": "INVALID_CODE"}


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (None, True),
        (Decimal(0), True),
        (Decimal("100.00"), True),
        (Decimal("0.5"), True),
        (Decimal("-0.01"), False),
        (Decimal("100.01"), False),
    ],
)
def test_weight_deduction_is_a_percentage(value: Decimal | None, ok: bool) -> None:
    got = violations_of(validate_weightment_term, weight_deduction_percent=value)
    assert got == ({} if ok else {"weight_deduction_percent": "OUT_OF_RANGE"})


def test_a_complete_payment_term_is_valid() -> None:
    term = {
        "days": 3650,
        "payment_percentage": Decimal(100),
        "currency": "usd",
        "supports_letter_of_credit": True,
        "lc_types_supported": ["SIGHT", "USANCE"],
        "lc_confirmation_required": True,
        "bank_charges_borne_by": "BANK_CHARGE_BEARER_SELLER",
        "payment_methods_supported": ["SWIFT", "LC"],
    }
    assert violations_of(validate_payment_term, **term) == {}


def test_every_payment_violation_is_reported_together() -> None:
    got = violations_of(
        validate_payment_term,
        days=-1,
        payment_percentage=Decimal("100.5"),
        currency="RUPEE",
        bank_charges_borne_by="BANK_CHARGE_BEARER_UNSPECIFIED",
        lc_types_supported=["SIGHT"],
        lc_confirmation_required=True,
        payment_methods_supported=["NEFT", "neft"],
    )
    assert got == {
        "days": "OUT_OF_RANGE",
        "payment_percentage": "OUT_OF_RANGE",
        "currency": "INVALID_CURRENCY",
        "bank_charges_borne_by": "INVALID_ENUM",
        "lc_types_supported": "LETTER_OF_CREDIT_NOT_SUPPORTED",
        "lc_confirmation_required": "LETTER_OF_CREDIT_NOT_SUPPORTED",
        "payment_methods_supported": "DUPLICATE_ITEM",
    }


@pytest.mark.parametrize(
    ("items", "reason"),
    [
        ([f"M{i}" for i in range(21)], "TOO_MANY_ITEMS"),
        (["RTGS", "  "], "EMPTY_ITEM"),
        (["X" * 51], "TOO_LONG"),
        (["RTGS", "rtgs "], "DUPLICATE_ITEM"),
    ],
)
def test_list_rules(items: list[str], reason: str) -> None:
    got = violations_of(validate_payment_term, payment_methods_supported=items)
    assert got == {"payment_methods_supported": reason}


@pytest.mark.parametrize("days", [0, 30, 3650])
def test_days_in_range(days: int) -> None:
    assert violations_of(validate_payment_term, days=days) == {}


def test_days_above_ten_years() -> None:
    assert violations_of(validate_payment_term, days=3651) == {"days": "OUT_OF_RANGE"}


def test_normalize_upper_cases_only_the_given_fields() -> None:
    assert normalize_trade_term({"code": "net30", "name": "Net 30"}) == {"code": "NET30"}
    assert normalize_trade_term(
        {"currency": "usd", "lc_types_supported": [" sight"], "payment_methods_supported": []}
    ) == {"currency": "USD", "lc_types_supported": ["SIGHT"], "payment_methods_supported": []}
    assert normalize_trade_term({}) == {}


def test_collector_raises_one_error_with_every_violation() -> None:
    collector = ViolationCollector("payment_term")
    validate_trade_term({"code": "a b"}, collector)
    validate_payment_term({"days": -5, "currency": "ZZ"}, collector)
    with pytest.raises(InvalidArgument) as raised:
        collector.raise_if_any()
    assert {v.field for v in raised.value.violations} == {
        "payment_term.code",
        "payment_term.days",
        "payment_term.currency",
    }
