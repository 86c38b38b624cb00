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


def _literals(pools: Pools) -> S[str]:
    every = sorted(i for group in pools.ids.values() for i in group)
    return st.one_of(
        st.sampled_from(
            (
                '"Cotton"',
                '"GJ"',
                "true",
                "false",
                "5",
                "-1",
                "5.00",
                "1e309",
                "NaN",
                "99999999999999999999",
                '"2025-04-01T00:00:00Z"',
                '"2025-04-01"',
                "REGION_WEST",
                "PRICE_VOLATILITY_HIGH",
                '"Cot*"',
                '"*"',
                "null",
                '"\\"',
                '"a\x00b"',
                "x",
            )
        ),
        st.sampled_from(every).map(lambda v: f'"{v}"') if every else st.just('""'),
    )


def filters(fields: Sequence[str], pools: Pools, tame: bool) -> S[str]:
    """AIP-160 expressions over the resource's fields, and junk that only looks like one."""
    if tame:
        return st.just("")
    names = st.sampled_from((*fields, "nope", "name.first", "a b")) if fields else st.just("x")
    ops = st.sampled_from(("=", "!=", "<", "<=", ">", ">=", ":", "=~"))
    term = st.builds(lambda f, o, v: f"{f} {o} {v}", names, ops, _literals(pools))
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
    if tame:
        return st.just("")
    names = st.sampled_from((*fields, "nope", "")) if fields else st.just("x")
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
