"""Document number formatting: prefix/suffix tokens, zero padding, financial-year labels.

`INV/{FY}/` + number 1 + padding 6 in the year 2025-04-01..2026-03-31 gives
`INV/2025-26/000001`. Pure: the service decides which number and which year.
"""

from __future__ import annotations

import re
from datetime import date

from masterdata.server.domain.errors import FieldViolation, InvalidArgument

TOKEN = re.compile(r"\{([^{}]*)\}")
TOKENS = frozenset({"FY", "YYYY", "YY", "MM"})
DOCUMENT_TYPE = re.compile(r"[A-Z][A-Z0-9_]{0,49}")
MIN_PADDING, MAX_PADDING = 1, 20


def financial_year_label(start: date, end: date) -> str:
    """`2025-26` for a year across two calendar years, `2025` within one."""
    if start.year == end.year:
        return str(start.year)
    return f"{start.year}-{end.year % 100:02d}"


def unknown_tokens(text: str) -> list[str]:
    """Brace tokens in a prefix or suffix that `format_document_number` cannot fill."""
    return [f"{{{name}}}" for name in TOKEN.findall(text) if name not in TOKENS]


def expand_tokens(text: str, fy_label: str, issue_date: date) -> str:
    values = {
        "FY": fy_label,
        "YYYY": f"{issue_date.year:04d}",
        "YY": f"{issue_date.year % 100:02d}",
        "MM": f"{issue_date.month:02d}",
    }
    return TOKEN.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def format_document_number(
    number: int,
    *,
    prefix: str = "",
    suffix: str = "",
    padding: int = 6,
    fy_label: str,
    issue_date: date,
) -> str:
    """prefix + zero-padded number + suffix, with tokens of the year and issue date."""
    digits = str(number).zfill(max(padding, 1))
    return (
        expand_tokens(prefix, fy_label, issue_date)
        + digits
        + expand_tokens(suffix, fy_label, issue_date)
    )


def normalise_document_type(value: str) -> str:
    return value.strip().upper()


def document_type_problem(value: str) -> str:
    """'' when valid, else the description of what is wrong."""
    if DOCUMENT_TYPE.fullmatch(value):
        return ""
    return "must be 1-50 characters of A-Z, 0-9 and _, starting with a letter, like INVOICE"


def parse_issue_date(year: int, month: int, day: int, field: str = "issue_date") -> date:
    """A google.type.Date's parts as a date; a partial or impossible date is invalid."""
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidArgument(
            f"{field} is not a complete calendar date",
            violations=[FieldViolation(field, "must be a complete, valid date", "INVALID_DATE")],
        ) from None
