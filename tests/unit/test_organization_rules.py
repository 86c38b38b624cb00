"""Pure per-resource rules of the organization family (no database)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.domain.organizations import (
    derive_organization,
    mask_account_number,
    validate_bank_account,
    validate_document_series,
    validate_financial_year,
    validate_organization,
)


def reasons(validate, values) -> dict[str, str]:  # type: ignore[no-untyped-def]
    collector = ViolationCollector()
    validate(values, collector)
    return {v.field: v.reason for v in collector.violations}


def test_account_numbers_are_masked_but_the_last_four() -> None:
    assert mask_account_number("50100012341234") == "XXXXXX1234"
    assert mask_account_number("123456") == "XXXXXX3456"
    assert mask_account_number("1234") == "XXXXXX"


def test_organization_codes_are_checked_upper_case_and_stored_so() -> None:
    values = {"pan": " aapfu0939f ", "base_currency": "usd", "tds_rate": Decimal("1.5")}
    assert reasons(validate_organization, values) == {}
    derived = derive_organization(values)
    assert (derived["pan"], derived["base_currency"]) == ("AAPFU0939F", "USD")
    assert derive_organization({})["base_currency"] == "INR"


def test_organization_violations() -> None:
    values = {
        "contact_phone": "12",
        "theme_color": "#12345",
        "logo_url": "javascript:alert(1)",
        "tcs_rate": Decimal("100.5"),
        "extra_config": {"blob": "x" * 70_000},
    }
    assert reasons(validate_organization, values) == {
        "contact_phone": "INVALID_PHONE",
        "theme_color": "INVALID_COLOR",
        "logo_url": "INVALID_URL",
        "tcs_rate": "OUT_OF_RANGE",
        "extra_config": "TOO_LARGE",
    }


def test_bank_account_rules() -> None:
    assert reasons(validate_bank_account, {"account_number": "abc123", "ifsc": "sbin0000001"}) == {}
    assert reasons(validate_bank_account, {"account_number": "12 34"}) == {
        "account_number": "INVALID_ACCOUNT_NUMBER"
    }


def test_year_must_end_after_it_starts() -> None:
    values = {"start_date": date(2025, 4, 1), "end_date": date(2025, 3, 31)}
    assert reasons(validate_financial_year, values) == {"end_date": "END_BEFORE_START"}


def test_series_rules() -> None:
    values = {"document_type": "invoice", "prefix": "{FY}/", "padding": 21, "next_number": 0}
    assert reasons(validate_document_series, values) == {
        "padding": "OUT_OF_RANGE",
        "next_number": "OUT_OF_RANGE",
    }
