"""Rules of an organization and its children that need no database.

Each `validate_*` adds a violation per bad field of a candidate (stored values
overlaid with the request's changes); each `derive_*` returns the normalised
values stored (upper-cased codes). Validators normalise before checking, because
derivation runs only once the candidate is valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from masterdata.server.domain.document_numbers import (
    MAX_PADDING,
    MIN_PADDING,
    document_type_problem,
    normalise_document_type,
    unknown_tokens,
)
from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.domain.tax_ids import (
    Invalid,
    cin_problem,
    currency_problem,
    email_problem,
    gstin_problem,
    ifsc_problem,
    pan_problem,
)

DEFAULT_CURRENCY = "INR"
MAX_EXTRA_CONFIG_BYTES = 64 * 1024
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]*")
_COLOR = re.compile(r"#[0-9A-Fa-f]{6}")
_ACCOUNT_NUMBER = re.compile(r"[A-Z0-9]{6,34}")
_URL = re.compile(r"https?://\S+", re.IGNORECASE)

#: Fields stored upper case, so checked upper case: `aapfu0939f` is a valid PAN.
CODE_FIELDS = frozenset({"pan", "cin", "base_currency", "gstin", "ifsc", "account_number"})

Problem = Callable[[str], Invalid | None]


def code(values: Mapping[str, Any], name: str) -> str:
    """A code-like field as stored: stripped and upper case."""
    return str(values.get(name) or "").strip().upper()


def _check(values: Mapping[str, Any], v: ViolationCollector, name: str, problem: Problem) -> None:
    """Run `problem` on a non-empty field; codes are checked in upper case."""
    raw = str(values.get(name) or "").strip()
    value = raw.upper() if name in CODE_FIELDS else raw
    found = problem(value) if value else None
    if found is not None:
        v.add(name, found.description, found.reason)


def phone_problem(value: str) -> Invalid | None:
    digits = sum(c.isdigit() for c in value)
    if _PHONE.fullmatch(value) and 6 <= digits <= 15:
        return None
    return Invalid("INVALID_PHONE", "must be 6-15 digits, optionally with + ( ) - and spaces")


def color_problem(value: str) -> Invalid | None:
    return None if _COLOR.fullmatch(value) else Invalid("INVALID_COLOR", "must be like #1A2B3C")


def url_problem(value: str) -> Invalid | None:
    return None if _URL.fullmatch(value) else Invalid("INVALID_URL", "must be an http(s) URL")


def check_range(
    values: Mapping[str, Any],
    v: ViolationCollector,
    name: str,
    low: Decimal | int | None,
    high: Decimal | int | None = None,
) -> None:
    value = values.get(name)
    if value is None:
        return
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        v.add(name, f"must be {bounds}", "OUT_OF_RANGE")


def check_extra_config(values: Mapping[str, Any], v: ViolationCollector) -> None:
    config = values.get("extra_config")
    if config and len(json.dumps(config, separators=(",", ":"))) > MAX_EXTRA_CONFIG_BYTES:
        v.add("extra_config", "must be at most 64 KiB as JSON", "TOO_LARGE")


def validate_organization(values: Mapping[str, Any], v: ViolationCollector) -> None:
    """Identifiers, contacts, branding and tax settings of an organization."""
    for name, problem in (
        ("pan", pan_problem),
        ("cin", cin_problem),
        ("base_currency", currency_problem),
        ("contact_email", email_problem),
        ("audit_firm_email", email_problem),
        ("contact_phone", phone_problem),
        ("audit_firm_phone", phone_problem),
        ("theme_color", color_problem),
        ("logo_url", url_problem),
        ("digital_signature_url", url_problem),
    ):
        _check(values, v, name, problem)
    check_range(values, v, "threshold_limit", Decimal(0))
    check_range(values, v, "tds_rate", Decimal(0), Decimal(100))
    check_range(values, v, "tcs_rate", Decimal(0), Decimal(100))
    check_extra_config(values, v)


def derive_organization(values: Mapping[str, Any]) -> dict[str, Any]:
    """Upper-case codes, INR by default."""
    return {
        "pan": code(values, "pan"),
        "cin": code(values, "cin"),
        "base_currency": code(values, "base_currency") or DEFAULT_CURRENCY,
    }


def validate_gst_registration(values: Mapping[str, Any], v: ViolationCollector) -> None:
    """Shape, state code and check character; the PAN match needs the organization."""
    _check(values, v, "gstin", gstin_problem)


def derive_gst_registration(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"gstin": code(values, "gstin")}


def validate_bank_account(values: Mapping[str, Any], v: ViolationCollector) -> None:
    number = code(values, "account_number")
    if number and not _ACCOUNT_NUMBER.fullmatch(number):
        v.add("account_number", "must be 6-34 letters or digits", "INVALID_ACCOUNT_NUMBER")
    _check(values, v, "ifsc", ifsc_problem)


def derive_bank_account(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"account_number": code(values, "account_number"), "ifsc": code(values, "ifsc")}


def mask_account_number(number: str) -> str:
    """`XXXXXX1234`: a fixed-width mask and the last four, so the length stays hidden."""
    return "XXXXXX" + (number[-4:] if len(number) > 4 else "")


def validate_financial_year(values: Mapping[str, Any], v: ViolationCollector) -> None:
    start, end = values.get("start_date"), values.get("end_date")
    if start is not None and end is not None and end <= start:
        v.add("end_date", "must be after start_date", "END_BEFORE_START")


def validate_document_series(values: Mapping[str, Any], v: ViolationCollector) -> None:
    """Document type, known tokens, padding and the first number."""
    document_type = normalise_document_type(values.get("document_type") or "")
    if document_type and (problem := document_type_problem(document_type)):
        v.add("document_type", problem, "INVALID_DOCUMENT_TYPE")
    for name in ("prefix", "suffix"):
        unknown = unknown_tokens(values.get(name) or "")
        if unknown:
            v.add(
                name,
                f"unknown token(s) {', '.join(unknown)}; use {{FY}} {{YYYY}} {{YY}} {{MM}}",
                "UNKNOWN_TOKEN",
            )
    check_range(values, v, "padding", MIN_PADDING, MAX_PADDING)
    check_range(values, v, "next_number", 1)
    check_extra_config(values, v)


def derive_document_series(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"document_type": normalise_document_type(values.get("document_type") or "")}
