"""Strings and numbers for a field, chosen by its name: valid, near misses, hostile.

Valid values (a GSTIN with its checksum, "GJ", "5.00", a catalogue unit) let calls
pass validation and write, so later calls meet real rows; a *tame* request uses only
those. Otherwise near misses ("XX", "5,00") and hostile text (NUL and other control
characters, 10k+ characters, odd Unicode) hunt for crashes. A field name not listed
here still gets words and junk, so no new field is left out.
"""

from __future__ import annotations

import math
import uuid

from hypothesis import strategies as st

from masterdata.server.domain.tax_ids import GSTIN_ALPHABET, gstin_check_character
from masterdata.server.domain.units import BASE_UNITS

S = st.SearchStrategy

PANS = ("AAPFU0939F", "AAGCB7383J")
#: Words for free text; some differ only in case or Unicode folding, which the two
#: databases' lower() may judge differently.
WORDS = (
    "Cotton", "Kapas", "Rajkot", "Shree", "Traders", "Fibre", "Yard", "Moisture", "Spot",
    "COTTON", "cotton", "Écru", "ÉCRU", "écru", "Straße", "STRASSE", "İpek", "ipek",
)  # fmt: skip
UNITS = ("KG", "QUINTAL", "MT", "CANDY", "BALE", "BAG", "POUND", "LITER", "PIECE", "kgs")
DECIMALS = (
    "100.01", "-1", "-0", "1e3", "1E+999999", "NaN", "Infinity", "-Infinity", "5,00", "", ".",
    "12345678901234567890.123456789",
)  # fmt: skip
CONTROL = "".join(map(chr, range(32))) + "\x7f\u200b\u202e\ufeff"


def gstin(pan: str, state: str) -> str:
    body = f"{state}{pan}{GSTIN_ALPHABET[1]}Z"
    return body + gstin_check_character(body)


#: Kind of value -> (valid values, near misses).
PLAUSIBLE: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "state_code": (("GJ", "MH", "TN", "gj"), ("XX", "ABC", "G")),
    "country": (("India", "IN", "IND", "Bharat", "US"), ("Narnia",)),
    "pincode": (("360001", "400001"), ("012345", "SW1A 1AA", "1")),
    "timezone": (("Asia/Kolkata", "UTC", "Europe/London"), ("Mars/Olympus",)),
    "gstin": (
        tuple(gstin(pan, state) for pan in PANS for state in ("24", "27")),
        ("24AAPFU0939F1Z0", "99AAPFU0939F1ZV", "ABC"),
    ),
    "pan": ((*PANS, "aapfu0939f"), ("ABCDE1234",)),
    "cin": (("U01100MH2019PTC123456", "L17110MH1973PLC019786"), ("U011",)),
    "ifsc": (("HDFC0001234", "SBIN0000001", "hdfc0001234"), ("HDFC1001234",)),
    "account_number": (("50100012341234", "123456", "ab12cd34ef"), ("12345",)),
    "email": (("accounts@example.com", "a@b.co"), ("bad@", "@x")),
    "phone": (("+91 98765 43210", "0281-2345678"), ("12345", "+")),
    "url": (("https://example.com/logo.png", "http://x"), ("ftp://x", "javascript:1")),
    "theme_color": (("#1A2B3C", "#abcdef"), ("#zzzzzz", "red")),
    "hsn_code": (("52010010", "5201", "520100"), ("1", "520100100")),
    "hs_code_6digit": (("520100",), ("12345", "520101")),
    "document_type": (("INVOICE", "CONTRACT", "invoice"), ("1BAD", "A" * 51)),
    "prefix": (("INV/{FY}/", "{YYYY}-", "/{MM}/", ""), ("{XX}", "{")),
    "code": (("FOB", "CIF", "NET30", "T_1", "X-1", "fob"), ("A B", "")),
    "currency": (("INR", "USD", "EUR", "inr"), ("XXX", "ZZZ", "")),
    "country_code": (("IN", "US", "CN", "in"), ("XX", "India")),
    "unit": (UNITS + tuple(BASE_UNITS.values()), ("FURLONG", "")),
    "decimal": (("5.00", "0", "18", "2.5", "100", "0.000001", " 5 "), DECIMALS),
    "aggregate_type": (("location", "organization", "commodity", "variety"), ("Location",)),
    "event_type": (("location.created", "commodity.updated", "variety.deleted"), ("x.y",)),
    "query": (("cot", "Cotton", "Wheat"), ("%", "_", "'", "a:b", "*")),
    "lc_list": (("SIGHT", "USANCE", "TT", "LC", "sight"), (" ",)),
}

#: Field name -> kind of value in PLAUSIBLE, for names that share one.
ALIASES: dict[str, str] = {
    **dict.fromkeys(("contact_email", "audit_firm_email"), "email"),
    **dict.fromkeys(("contact_phone", "audit_firm_phone"), "phone"),
    **dict.fromkeys(("logo_url", "digital_signature_url"), "url"),
    **dict.fromkeys(("base_currency", "default_currency", "supported_currencies"), "currency"),
    **dict.fromkeys(
        ("major_producing_countries", "major_consuming_countries", "key"), "country_code"
    ),
    **dict.fromkeys(
        (
            "base_unit",
            "trade_unit",
            "rate_unit",
            "international_pricing_unit",
            "from_unit",
            "to_unit",
        ),
        "unit",
    ),
    "aggregate_types": "aggregate_type",
    "event_types": "event_type",
    "suffix": "prefix",
    **dict.fromkeys(("lc_types_supported", "payment_methods_supported"), "lc_list"),
    **dict.fromkeys(
        (
            "gst_rate",
            "threshold_limit",
            "tds_rate",
            "tcs_rate",
            "rate",
            "min_amount",
            "max_amount",
            "min_value",
            "max_value",
            "default_value",
            "delivery_tolerance_pct",
            "weight_tolerance_pct",
            "standard_weight_per_unit",
            "weight_deduction_percent",
            "payment_percentage",
            "quantity",
            "min_quantity",
            "value",
        ),
        "decimal",
    ),
}


def _words() -> S[str]:
    return st.builds(
        lambda word, n: f"{word} {n}" if n else word, st.sampled_from(WORDS), st.integers(0, 30)
    )


def plausible_text(name: str, *, valid_only: bool = False) -> S[str]:
    """Values a caller could mean for a field of this name (and near misses)."""
    found = PLAUSIBLE.get(ALIASES.get(name, name))
    if found is None:
        return _words()
    valid, near = found
    return st.sampled_from(valid if valid_only else valid + near)


def hostile_text(base: S[str]) -> S[str]:
    """Text that has broken servers before: control characters, length, odd Unicode."""
    return st.one_of(
        st.text(max_size=30),
        st.text(alphabet=CONTROL, min_size=1, max_size=5),
        st.builds(lambda v, c: v + c, base, st.sampled_from(("\x00", "\n", "\t", "\x1b"))),
        st.builds(lambda v, n: ((v or "x") * n)[:n], base, st.sampled_from((2_000, 10_001))),
        st.sampled_from(
            ("", " ", "Ω≈ç√", "🐄", "a\u0301", "İ", "ß", "\\", "'; DROP TABLE x; --", "%_%")
        ),
    )


def text_for(name: str, tame: bool) -> S[str]:
    """Tame: a valid value. Otherwise mostly plausible, sometimes hostile."""
    if tame:
        return plausible_text(name, valid_only=True)
    base = plausible_text(name)
    return st.one_of(base, base, hostile_text(base))


def uuids() -> S[str]:
    return st.builds(lambda n: str(uuid.UUID(int=n, version=4)), st.integers(0, 2**128 - 1))


def broken_ids(real: S[str]) -> S[str]:
    """Near-misses of ids: case, braces, no dashes, truncation, a NUL."""
    return st.one_of(
        st.sampled_from(("", "not-a-uuid", "00000000-0000-0000-0000-000000000000", "1")),
        real.map(str.upper),
        real.map(lambda v: "{" + v + "}"),
        real.map(lambda v: v.replace("-", "")),
        real.map(lambda v: v[:-1]),
        real.map(lambda v: v + "\x00"),
    )


def floats_for(name: str, tame: bool, width: int = 64) -> S[float]:
    """Doubles: plausible coordinates for lat/long; the edge cases unless tame."""
    plausible = {"latitude": st.floats(-90, 90), "longitude": st.floats(-180, 180)}
    usual = plausible.get(name, st.floats(-1e6, 1e6, width=width))
    if tame:
        return usual
    edges = st.sampled_from((math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, -1e308, 5e-324))
    return st.one_of(usual, edges, st.floats(width=width, allow_nan=True, allow_infinity=True))


def integers_for(bits: int, signed: bool, tame: bool = False) -> S[int]:
    """Small values; unless tame also the type's extremes and off-by-ones."""
    low, high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    small = st.integers(max(low, 0 if tame else -3), min(high, 100))
    if tame:
        return small
    edges = (low, high, -1, 0, 1, 9999, 1000, 1001, 5001, 36501)
    inside = tuple(v for v in edges if low <= v <= high)
    return st.one_of(small, st.sampled_from(inside), st.integers(low, high))
