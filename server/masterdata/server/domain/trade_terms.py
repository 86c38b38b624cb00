"""Rules of the six trade-term families.

Every family shares name, code, description and is_active; PaymentTerm and
WeightmentTerm add numeric rules of their own. Validators check a complete
candidate (stored values overlaid with the request's changes) and report every
violation; `normalize_trade_term` runs after them and canonicalises spelling.

Code: a short identifier contracts and other systems key on, so it is
case-insensitive in effect: it is upper-cased before it is stored, and what
remains must be 1-50 (the column's length, enforced by the codec) of
`A-Z 0-9 _ -` (e.g. `FOB`, `NET30`, `LC-SIGHT`). Empty means "no code".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from masterdata.server.domain.currencies import is_currency
from masterdata.server.domain.errors import ViolationCollector

CODE_PATTERN = re.compile(r"[A-Z0-9_-]+")
MAX_PAYMENT_DAYS = 3650
MAX_LIST_ITEMS = 20
MAX_LIST_ITEM_LENGTH = 50
HUNDRED = Decimal(100)
#: Percentages are NUMERIC(5, 2): answered as stored ("0.50"), also by the write itself.
_PERCENT_FIELDS = ("weight_deduction_percent", "payment_percentage")
#: Who bears bank charges; UNSPECIFIED is only the proto's "not given" value.
BANK_CHARGE_BEARERS = frozenset(
    {"BANK_CHARGE_BEARER_BUYER", "BANK_CHARGE_BEARER_SELLER", "BANK_CHARGE_BEARER_SHARED"}
)
_LIST_FIELDS = ("lc_types_supported", "payment_methods_supported")


def validate_trade_term(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """The rules every trade-term family shares: the code's alphabet."""
    code = (values.get("code") or "").upper()
    if code and not CODE_PATTERN.fullmatch(code):
        violations.add(
            "code",
            "may contain only letters, digits, '_' and '-' (stored upper-cased), such as NET30",
            "INVALID_CODE",
        )


def validate_weightment_term(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """A deduction is a percentage of the weighed quantity."""
    _percentage(values, "weight_deduction_percent", violations)


def validate_payment_term(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """Due days, share, currency, bank-charge bearer and the letter-of-credit lists."""
    days = values.get("days")
    if days is not None and not 0 <= days <= MAX_PAYMENT_DAYS:
        violations.add("days", f"must be between 0 and {MAX_PAYMENT_DAYS}", "OUT_OF_RANGE")
    _percentage(values, "payment_percentage", violations)
    currency = (values.get("currency") or "").upper()
    if currency and not is_currency(currency):
        violations.add(
            "currency", "must be an ISO 4217 code such as INR or USD", "INVALID_CURRENCY"
        )
    bearer = values.get("bank_charges_borne_by")
    if bearer is not None and bearer not in BANK_CHARGE_BEARERS:
        violations.add("bank_charges_borne_by", "must be BUYER, SELLER or SHARED", "INVALID_ENUM")
    for name in _LIST_FIELDS:
        _check_list(name, values.get(name) or [], violations)
    _check_letter_of_credit(values, violations)


def normalize_trade_term(values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical spelling of the given fields, as stored and as every read answers it.

    Codes, currency and list items upper-cased. Only keys present in `values` are
    returned, so a partial candidate stays partial.
    """
    normalized: dict[str, Any] = {}
    for name in ("code", "currency"):
        if name in values and values[name] is not None:
            normalized[name] = values[name].upper()
    for name in _LIST_FIELDS:
        if name in values and values[name] is not None:
            normalized[name] = [item.strip().upper() for item in values[name]]
    return normalized


def _percentage(values: Mapping[str, Any], name: str, violations: ViolationCollector) -> None:
    value = values.get(name)
    if value is not None and not 0 <= value <= HUNDRED:
        violations.add(name, "must be a percentage between 0 and 100", "OUT_OF_RANGE")


def _check_list(name: str, items: list[str], violations: ViolationCollector) -> None:
    """At most 20 distinct, non-blank items of up to 50 characters."""
    if len(items) > MAX_LIST_ITEMS:
        violations.add(name, f"must have at most {MAX_LIST_ITEMS} items", "TOO_MANY_ITEMS")
        return
    cleaned = [item.strip().upper() for item in items]
    if any(not item for item in cleaned):
        violations.add(name, "must not contain empty items", "EMPTY_ITEM")
    elif any(len(item) > MAX_LIST_ITEM_LENGTH for item in cleaned):
        violations.add(name, f"items must be at most {MAX_LIST_ITEM_LENGTH} characters", "TOO_LONG")
    elif len(set(cleaned)) != len(cleaned):
        violations.add(name, "must not repeat an item", "DUPLICATE_ITEM")


def _check_letter_of_credit(values: Mapping[str, Any], violations: ViolationCollector) -> None:
    """LC details only make sense on a term that accepts a letter of credit.

    Without this rule a term could say "no LC" and still list LC types, and a
    contract screen could not tell which of the two to believe.
    """
    if values.get("supports_letter_of_credit"):
        return
    if values.get("lc_types_supported"):
        violations.add(
            "lc_types_supported",
            "needs supports_letter_of_credit to be true",
            "LETTER_OF_CREDIT_NOT_SUPPORTED",
        )
    if values.get("lc_confirmation_required"):
        violations.add(
            "lc_confirmation_required",
            "needs supports_letter_of_credit to be true",
            "LETTER_OF_CREDIT_NOT_SUPPORTED",
        )
