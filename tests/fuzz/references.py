"""Strings that refer to something: ids, page tokens, etags, request ids, filters,
order_by and field-mask paths — real references mixed with broken ones.

Rows and page tokens that exist are named by placeholders (see fuzz/seed.py), the
same on both backends; each backend swaps in its own ids before the call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from hypothesis import strategies as st

from fuzz.values import broken_ids, hostile_text, uuids

S = st.SearchStrategy


@dataclass(frozen=True)
class Pools:
    """What exists on both backends: row ids by kind (snake_case resource name) and
    page tokens, all as placeholders."""

    ids: Mapping[str, tuple[str, ...]]
    tokens: tuple[str, ...]

    def kind_of(self, stem: str) -> str | None:
        """The kind a field stem names: commodity_id -> commodity, template_ids ->
        parameter_template, from_financial_year_id -> financial_year."""
        matches = [kind for kind in self.ids if stem.endswith(kind) or kind.endswith(stem)]
        return max(matches, key=len) if matches else None


def is_reference(name: str) -> bool:
    return name in ("id", "ids", "parent") or name.endswith(("_id", "_ids"))


def ids(pools: Pools, preferred: str | None, tame: bool) -> S[str]:
    """Ids of the preferred kind most often, then of any kind; unless tame also random
    and broken ones."""
    every = sorted(i for group in pools.ids.values() for i in group)
    real = st.sampled_from(every) if every else uuids()
    mine = st.sampled_from(pools.ids[preferred]) if preferred in pools.ids else real
    if tame:
        return st.one_of(mine, mine, mine, real)
    return st.one_of(mine, mine, real, uuids(), broken_ids(uuids()), broken_ids(mine))


def request_ids(tame: bool) -> S[str]:
    """Fresh UUIDs, a few reused ones (a retry, or a clash), and junk."""
    reused = st.sampled_from(tuple(f"00000000-0000-4000-8000-00000000000{n}" for n in range(4)))
    if tame:
        return st.one_of(st.just(""), uuids())
    return st.one_of(st.just(""), uuids(), reused, hostile_text(uuids()))


def etags(tame: bool) -> S[str]:
    if tame:
        return st.just("")
    return st.one_of(
        st.just(""),
        st.integers(0, 5).map(lambda n: f'W/"{n}"'),
        st.sampled_from(('"1"', "W/", 'W/"-1"', 'W/"99999999999999999999"')),
        hostile_text(st.just('W/"1"')),
    )


def forged(holder: str, values: list[object]) -> str:
    """A real token's placeholder whose keyset values are replaced; the backend redoes
    the checksum (fuzz/seed.py), so the server has to check the values themselves."""
    payload = base64.urlsafe_b64encode(json.dumps(values).encode()).decode()
    return f"{holder[:-1]}:{payload}@"


_KEYSET_VALUES = st.lists(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(),
        st.sampled_from(("2025-04-01T00:00:00+00:00", "2025-13-01", "NaN", "Infinity", "1e999")),
        uuids(), hostile_text(st.just("Cotton")), st.lists(st.integers(), max_size=2),
    ),
    max_size=4,
)  # fmt: skip


def page_tokens(pools: Pools, tame: bool) -> S[str]:
    if tame:
        return st.sampled_from(("", *pools.tokens))
    junk = st.one_of(
        st.text(
            alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=",
            max_size=60,
        ),
        st.sampled_from(("eyJ9", "e30", "W10", "bnVsbA", "eyJmIjoxfQ", "=" * 8)),
        hostile_text(st.just("eyJ9")),
    )
    if not pools.tokens:
        return junk
    real = st.sampled_from(pools.tokens)
    return st.one_of(real, real, st.builds(forged, real, _KEYSET_VALUES), junk)


_F = FieldDescriptor
_NUMBER_TYPES = frozenset(
    (_F.TYPE_INT32, _F.TYPE_INT64, _F.TYPE_UINT32, _F.TYPE_UINT64, _F.TYPE_DOUBLE, _F.TYPE_FLOAT)
)
#: Literals by the kind of field compared: (usual, extreme or mistyped).
_LITERALS = {
    "number": (("0", "5", "30", "-1", "2.5"), (
        "2147483648", "-9223372036854775809", "99999999999999999999", "1e309", "NaN", "1.5e",
        '"5"', "true")),
    "bool": (("true", "false"), ("TRUE", "1", '"true"', "null")),
    "timestamp": (('"2025-04-01T00:00:00Z"', '"2020-01-01T10:00:00+05:30"'), (
        '"0001-01-01T00:00:00Z"', '"9999-12-31T23:59:59Z"', '"2025-02-30T00:00:00Z"',
        '"yesterday"', "2025", '"2025-04-01"')),
    "date": (('"2025-04-01"',), ('"0000-01-01"', '"2025-13-01"', '"2025-04-01T00:00:00Z"', "1")),
    "text": (('"Cotton"', '"GJ"', '"Cot*"', '"INR"', '""'), (
        '"*"', '"%"', '"_"', '"\\"', '"a\x00b"', '"İpek"', '"' + "x" * 300 + '"', "Cotton", "5")),
}  # fmt: skip


def _literals(field: FieldDescriptor, pools: Pools, tame: bool) -> S[str]:
    """Values to compare a field with: of its type, and (unless tame) extreme or mistyped."""
    if field.message_type is not None:
        kind = {"google.protobuf.Timestamp": "timestamp", "google.type.Date": "date"}.get(
            field.message_type.full_name, "text"
        )
    elif field.type == _F.TYPE_ENUM:
        names = tuple(v.name for v in field.enum_type.values)
        usual, odd = names + tuple(n.split("_")[-1] for n in names), ("9999", '"x"', "-1")
        return st.sampled_from(usual if tame else usual + odd)
    elif field.type == _F.TYPE_BOOL:
        kind = "bool"
    elif field.type in _NUMBER_TYPES:
        kind = "number"
    elif is_reference(field.name):
        every = sorted(i for group in pools.ids.values() for i in group)
        real = st.sampled_from(every).map(lambda v: f'"{v}"') if every else st.just('""')
        return real if tame else st.one_of(real, st.sampled_from(('"x"', "5", '""')))
    else:
        kind = "text"
    usual, odd = _LITERALS[kind]
    return st.sampled_from(usual if tame else usual + odd)


def _terms(fields: Sequence[FieldDescriptor], pools: Pools, tame: bool) -> S[str]:
    ops = ("=", "!=", "<", "<=", ">", ">=", ":")
    compare = st.sampled_from(ops if tame else (*ops, "=~", "=="))
    by_field = [
        st.builds(lambda o, v, n=f.name: f"{n} {o} {v}", compare, _literals(f, pools, tame))
        for f in fields
    ]
    junk = st.builds(lambda n, o: f"{n} {o} 1", st.sampled_from(("nope", "name.first")), compare)
    return st.one_of(*by_field) if tame else st.one_of(*by_field, junk)


def filters(fields: Sequence[FieldDescriptor], pools: Pools, tame: bool) -> S[str]:
    """AIP-160 expressions over the resource's fields with values of their types, and
    (unless tame) extreme values and junk that only looks like an expression."""
    if not fields:
        return st.just("")
    term = _terms(fields, pools, tame)
    joined = st.builds(lambda a, j, b: f"{a} {j} {b}", term, st.sampled_from(("AND", "OR")), term)
    if tame:
        return st.one_of(st.just(""), term, joined)
    expression = st.recursive(
        term,
        lambda inner: st.one_of(
            st.builds(lambda a, j, b: f"{a} {j} {b}", inner, st.sampled_from(("AND", "OR")), inner),
            inner.map(lambda e: f"NOT {e}"),
            inner.map(lambda e: f"({e})"),
        ),
        max_leaves=4,
    )
    return st.one_of(
        st.just(""), expression, expression, hostile_text(expression),
        st.sampled_from(("(", '"', "AND", "a =", "= 1", ")(", "name = \"x\" AND " * 500)),
    )  # fmt: skip


def orderings(fields: Sequence[str], tame: bool) -> S[str]:
    """Comma-separated fields with a direction; unless tame, unknown ones and junk."""
    if not fields:
        return st.just("")
    if tame:
        part = st.builds(
            lambda f, d: f + d, st.sampled_from(fields), st.sampled_from(("", " desc"))
        )
        return st.one_of(st.just(""), part)
    names = st.sampled_from((*fields, "nope", ""))
    part = st.builds(
        lambda f, d: f + d, names, st.sampled_from(("", " desc", " asc", " DESC", " sideways"))
    )
    return st.one_of(
        st.just(""), st.lists(part, min_size=1, max_size=3).map(", ".join), hostile_text(part)
    )


def mask_paths(paths: Sequence[str], tame: bool) -> S[list[str]]:
    names = st.sampled_from(tuple(paths)) if paths else st.just("x")
    if tame:
        return st.lists(names, max_size=3, unique=True)
    junk = st.one_of(st.sampled_from(("", "*", "id", "nope", "a.b.c", "etag")), hostile_text(names))
    return st.lists(st.one_of(names, names, junk), max_size=4)
