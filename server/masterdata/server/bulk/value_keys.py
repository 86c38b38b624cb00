"""Hashable keys of a row's values, made in C, for the memos of an import's CPU steps.

An import's rows repeat most of their values (units, rates, lists, documents), so
work that depends only on some columns - the commodity checks, the serialized
pieces of an event - is done once per distinct set of values. A key is the plain
values as they are, lists as tuples, and documents (dicts, shared between the rows
that had the same cell text) by identity; a memo keeps the documents of its keys
alive, so an identity is never reused while its key is remembered.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Getter = Callable[[Any], tuple[Any, ...]]


def getter(names: Sequence[Any]) -> Getter:
    """`row -> tuple of row[name]` (names or indexes), a tuple even for one (itemgetter's
    is not)."""
    if not names:
        return lambda _row: ()
    if len(names) == 1:
        name = names[0]
        return lambda row: (row[name],)
    return itemgetter(*names)


class KeyedMemo(Generic[T]):
    """`make(row)` once per distinct key of the named columns, for `limit` keys at a time.

    Looked up first by the identities of the values, which is cheapest to hash: the
    rows of an import share their value objects (per-column memos, one clock per
    batch), so most rows are found there; then by the values themselves.
    """

    def __init__(
        self,
        make: Callable[[Mapping[str, Any]], T],
        *,
        plain: Sequence[str],
        lists: Sequence[str] = (),
        documents: Sequence[str] = (),
        limit: int = 4096,
    ) -> None:
        self._make = make
        self._plain, self._lists, self._documents = getter(plain), getter(lists), getter(documents)
        self._all = getter([*plain, *lists, *documents])
        self._limit = limit
        self._seen: dict[Any, T] = {}
        self._by_identity: dict[tuple[int, ...], T] = {}
        # What each cache's keys name by identity, alive while the cache holds them
        # (each cleared only with its own cache, so no identity is reused meanwhile).
        self._seen_alive: list[tuple[Any, ...]] = []
        self._identity_alive: list[tuple[Any, ...]] = []

    def __call__(self, row: Mapping[str, Any]) -> T:
        values = self._all(row)
        identities = tuple(map(id, values))
        found = self._by_identity.get(identities)
        if found is None:
            found = self._by_value(row)
            if len(self._by_identity) >= self._limit:
                self._by_identity.clear()
                self._identity_alive.clear()
            self._by_identity[identities] = found
            self._identity_alive.append(values)
        return found

    def _by_value(self, row: Mapping[str, Any]) -> T:
        documents = self._documents(row)
        try:
            key = (self._plain(row), tuple(map(tuple, self._lists(row))), tuple(map(id, documents)))
            found = self._seen.get(key)
        except TypeError:  # an unhashable value, or a list column holding None
            return self._make(row)
        if found is None:
            if len(self._seen) >= self._limit:
                self._seen.clear()
                self._seen_alive.clear()
            found = self._seen[key] = self._make(row)
            self._seen_alive.append(documents)
        return found
