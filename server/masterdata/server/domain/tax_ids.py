"""Indian tax and bank identifiers (PAN, CIN, IFSC, GSTIN), e-mail and currency codes.

Pure functions: each `*_problem` returns None for a valid value, else an `Invalid`
with the stable ErrorInfo reason and a description for the BadRequest violation.
Inputs are expected upper case and stripped; callers normalise first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from masterdata.server.domain.currencies import is_currency

PAN = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
CIN = re.compile(r"[LU][0-9]{5}[A-Z]{2}[0-9]{4}[A-Z]{3}[0-9]{6}")
IFSC = re.compile(r"[A-Z]{4}0[A-Z0-9]{6}")
#: Two-digit state code, ten characters (the PAN of regular taxpayers), entity
#: number, a letter (Z by default) and the check character.
GSTIN_SHAPE = re.compile(r"[0-9]{2}[0-9A-Z]{13}")
GSTIN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: GST state codes: 01-38 (states and union territories, including the retired
#: 25 Daman & Diu and 28 old Andhra Pradesh that still appear on old GSTINs),
#: 97 Other Territory and 99 Centre Jurisdiction.
GST_STATE_CODES = frozenset({f"{n:02d}" for n in range(1, 39)} | {"97", "99"})


@dataclass(frozen=True)
class Invalid:
    """Why a value is rejected: an ErrorInfo reason and a human description."""

    reason: str
    description: str


def pan_problem(pan: str) -> Invalid | None:
    if PAN.fullmatch(pan):
        return None
    return Invalid("INVALID_PAN", "must be a PAN of 10 characters like AAPFU0939F")


def cin_problem(cin: str) -> Invalid | None:
    if CIN.fullmatch(cin):
        return None
    return Invalid("INVALID_CIN", "must be a CIN of 21 characters like U01100MH2019PTC123456")


def ifsc_problem(ifsc: str) -> Invalid | None:
    if IFSC.fullmatch(ifsc):
        return None
    return Invalid("INVALID_IFSC", "must be an IFSC of 11 characters like HDFC0001234")


def currency_problem(code: str) -> Invalid | None:
    if is_currency(code):
        return None
    return Invalid("INVALID_CURRENCY", "must be an ISO 4217 currency code such as INR")


def email_problem(address: str) -> Invalid | None:
    """Syntax only: deliverability (DNS) is not checked, so validation stays offline."""
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError as error:
        return Invalid("INVALID_EMAIL", f"is not a valid e-mail address: {error}")
    return None


def gstin_check_character(first14: str) -> str:
    """The mod-36 (Luhn mod N) check character of the first 14 GSTIN characters."""
    total = 0
    for position, char in enumerate(first14):
        value = GSTIN_ALPHABET.index(char) * (2 if position % 2 else 1)
        total += value // 36 + value % 36
    return GSTIN_ALPHABET[(36 - total % 36) % 36]


def gstin_problem(gstin: str, pan: str = "") -> Invalid | None:
    """Shape, state code, check character, and the embedded PAN when `pan` is given."""
    if len(gstin) != 15 or not GSTIN_SHAPE.fullmatch(gstin):
        return Invalid(
            "INVALID_GSTIN",
            "must be 15 characters: 2-digit state code, PAN, entity, Z and a check character",
        )
    if gstin[:2] not in GST_STATE_CODES:
        return Invalid("GSTIN_STATE_CODE", f"{gstin[:2]} is not a GST state code")
    if gstin_check_character(gstin[:14]) != gstin[14]:
        return Invalid("GSTIN_CHECKSUM", "the check character (15th) does not match")
    if pan and gstin[2:12] != pan:
        return Invalid(
            "GSTIN_PAN_MISMATCH", f"characters 3-12 must be the organization's PAN {pan}"
        )
    return None


def embeds_pan(gstin: str, pan: str) -> bool:
    """True when the GSTIN carries `pan` in characters 3-12."""
    return gstin[2:12] == pan
