"""Pure document-number formatting: tokens, padding, financial-year labels."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masterdata.server.domain.document_numbers import (
    document_type_problem,
    financial_year_label,
    format_document_number,
    parse_issue_date,
    unknown_tokens,
)
from masterdata.server.domain.errors import InvalidArgument

APRIL_YEAR = (date(2025, 4, 1), date(2026, 3, 31))


@pytest.mark.parametrize(
    ("start", "end", "label"),
    [
        (date(2025, 4, 1), date(2026, 3, 31), "2025-26"),
        (date(1999, 4, 1), date(2000, 3, 31), "1999-00"),
        (date(2025, 1, 1), date(2025, 12, 31), "2025"),
    ],
)
def test_financial_year_label(start: date, end: date, label: str) -> None:
    assert financial_year_label(start, end) == label


def test_the_design_example() -> None:
    number = format_document_number(
        1, prefix="INV/{FY}/", padding=6, fy_label="2025-26", issue_date=date(2025, 7, 15)
    )
    assert number == "INV/2025-26/000001"


def test_every_token_and_a_suffix() -> None:
    number = format_document_number(
        42,
        prefix="{YYYY}{MM}-",
        suffix="/{YY}/{FY}",
        padding=4,
        fy_label="2025-26",
        issue_date=date(2026, 2, 3),
    )
    assert number == "202602-0042/26/2025-26"


def test_numbers_longer_than_the_padding_are_not_cut() -> None:
    assert format_document_number(
        1234567, padding=3, fy_label="x", issue_date=date(2025, 1, 1)
    ) == ("1234567")


@given(st.integers(min_value=1, max_value=10**12), st.integers(min_value=1, max_value=20))
def test_padding_keeps_the_number(number: int, padding: int) -> None:
    text = format_document_number(number, padding=padding, fy_label="x", issue_date=date.today())
    assert int(text) == number and len(text) == max(padding, len(str(number)))


def test_unknown_tokens_are_reported() -> None:
    assert unknown_tokens("INV/{FY}/{DD}/{}") == ["{DD}", "{}"]
    assert unknown_tokens("{FY}{YYYY}{YY}{MM}") == []


@pytest.mark.parametrize("value", ["INVOICE", "CREDIT_NOTE", "PO2"])
def test_valid_document_types(value: str) -> None:
    assert document_type_problem(value) == ""


@pytest.mark.parametrize("value", ["", "2INVOICE", "IN VOICE", "invoice", "X" * 51])
def test_invalid_document_types(value: str) -> None:
    assert document_type_problem(value)


def test_issue_date_must_be_complete() -> None:
    assert parse_issue_date(2025, 7, 15) == date(2025, 7, 15)
    with pytest.raises(InvalidArgument) as error:
        parse_issue_date(2025, 0, 0)
    assert error.value.violations[0].field == "issue_date"
