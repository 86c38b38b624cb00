"""ISO 4217 currency codes, from pycountry's copy of the standard."""

from __future__ import annotations

from functools import cache

import pycountry


@cache
def currency_codes() -> frozenset[str]:
    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


def is_currency(code: str) -> bool:
    """True for an active ISO 4217 alphabetic code such as INR or USD (upper case)."""
    return code in currency_codes()
