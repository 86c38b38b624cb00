"""Values of the well-known types a request may carry: Struct/Value/ListValue, Date,
Timestamp, Duration. Each maps a Python value onto the message in place."""

from __future__ import annotations

import math
from typing import Any

from google.protobuf import struct_pb2
from hypothesis import strategies as st

from fuzz.values import hostile_text

S = st.SearchStrategy

#: JSON keys: ordinary ones, and the ones databases choke on.
KEYS = st.one_of(
    st.sampled_from(("India", "start", "end", "quantity", "unit", "", "a.b", "$", "\x00")),
    hostile_text(st.sampled_from(("India", "grade"))),
)
_NUMBERS = st.one_of(
    st.sampled_from(
        (0, -0.0, 1.5, 1e308, -1e308, 5e-324, 2**53 + 1, math.nan, math.inf, -math.inf)
    ),
    st.floats(allow_nan=False, allow_infinity=False),
)
_LEAVES = st.one_of(
    st.none(), st.booleans(), _NUMBERS, st.sampled_from(("October", "BALE", "100")), KEYS
)
#: Documents a real commodity carries (so some writes succeed).
PLAUSIBLE_DOCUMENTS = st.sampled_from(
    (
        {"India": {"start": "October", "end": "March"}},
        {"quantity": "100", "unit": "BALE"},
        {"IN": "5201", "US": "5201.00"},
        {},
    )
)


def _nest(leaf: Any, depth: int, as_list: bool) -> Any:
    for _ in range(depth):
        leaf = [leaf] if as_list else {"k\x00" if depth % 7 == 0 else "k": leaf}
    return leaf


def json_documents() -> S[Any]:
    """Any JSON value: small random trees, ~20 deep chains, ~50 wide objects."""
    trees = st.recursive(
        _LEAVES,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=12,
    )
    deep = st.builds(_nest, _LEAVES, st.sampled_from((20, 21, 40)), st.booleans())
    wide = st.dictionaries(KEYS, _LEAVES, min_size=40, max_size=50)
    return st.one_of(PLAUSIBLE_DOCUMENTS, trees, deep, wide)


def json_objects() -> S[dict[str, Any]]:
    return json_documents().map(lambda doc: doc if isinstance(doc, dict) else {"value": doc})


def json_for(full_name: str, tame: bool) -> S[Any]:
    if tame:
        return PLAUSIBLE_DOCUMENTS.map(lambda doc: [doc] if "ListValue" in full_name else doc)
    return {
        "google.protobuf.Struct": json_objects(),
        "google.protobuf.ListValue": st.lists(json_documents(), max_size=5),
        "google.protobuf.Value": json_documents(),
    }[full_name]


def set_json(message: Any, value: Any) -> None:
    """Fill a Struct, Value or ListValue from a Python JSON value."""
    if isinstance(message, struct_pb2.Struct):
        message.update(value)
    elif isinstance(message, struct_pb2.ListValue):
        message.extend(value if isinstance(value, list) else [value])
    elif value is None:
        message.null_value = struct_pb2.NULL_VALUE
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int | float):
        message.number_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, list):
        message.list_value.extend(value)
    else:
        message.struct_value.update(value)


JSON_TYPES = frozenset(
    ("google.protobuf.Struct", "google.protobuf.ListValue", "google.protobuf.Value")
)

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)


def dates(tame: bool) -> S[dict[str, int]]:
    """google.type.Date parts: real days, impossible days, partial dates, extremes."""
    real = st.dates().map(lambda d: {"year": d.year, "month": d.month, "day": d.day})
    good = (
        {"year": 2025, "month": 4, "day": 1},
        {"year": 2026, "month": 3, "day": 31},
        {"year": 2025, "month": 10, "day": 2},
    )
    if tame:
        return st.sampled_from(good)
    known = st.sampled_from(
        (
            *good,
            {"year": 2024, "month": 2, "day": 29},
            {"year": 2025, "month": 2, "day": 29},
            {"year": 2025, "month": 13, "day": 1},
            {"year": 2025, "month": 0, "day": 0},
            {"year": 0, "month": 12, "day": 25},
            {"year": 10000, "month": 1, "day": 1},
        )
    )
    extreme = st.fixed_dictionaries(
        {part: st.sampled_from((*_INT32, -1, 0, 32)) for part in ("year", "month", "day")}
    )
    return st.one_of(known, real, extreme)


def instants(tame: bool) -> S[dict[str, int]]:
    """Timestamp/Duration parts: ordinary, at and beyond the representable range."""
    usual = st.integers(0, 2_000_000_000)
    if tame:
        return st.fixed_dictionaries({"seconds": usual})
    seconds = st.one_of(
        usual,
        st.sampled_from((*_INT64, -62135596800, -62135596801, 253402300799, 253402300800)),
    )
    nanos = st.one_of(st.just(0), st.sampled_from((*_INT32, -1, 999_999_999, 1_000_000_000)))
    return st.fixed_dictionaries({"seconds": seconds, "nanos": nanos})


PARTS_TYPES = {
    "google.type.Date": dates,
    "google.protobuf.Timestamp": instants,
    "google.protobuf.Duration": instants,
}
