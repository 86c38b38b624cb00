"""Bounded memos: values remembered by key (request text) or by object identity (documents).

IdentityMemo, why by identity: JSON documents are dicts (unhashable), and a file's
rows share one parsed dict per distinct cell text (bulk/cells.py), so "the same
object" is both cheap to test and the common case. Documents are never mutated
after conversion, so a result stays true; the memo holds each object, so its id is
not reused.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

T = TypeVar("T")
V = TypeVar("V")


class Remembered(Generic[V]):
    """Values by (owner, key), the oldest dropped first past `size`.

    Why bounded: the keys come from callers (a filter's text), whose variety has no
    limit. The owner is a long-lived object (a resource's field set or spec) named
    by identity, so owners need not be hashable.
    """

    __slots__ = ("_entries", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: dict[tuple[int, Hashable], tuple[object, V]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, owner: object, key: Hashable, make: Callable[[], V]) -> V:
        """The value remembered for (owner, key), else `make()`, remembered."""
        slot = (id(owner), key)
        entry = self._entries.get(slot)
        if entry is not None and entry[0] is owner:
            return entry[1]
        value = make()
        if len(self._entries) >= self.size:
            del self._entries[next(iter(self._entries))]
        self._entries[slot] = (owner, value)
        return value


class IdentityMemo(Generic[T]):
    """`fn(value)` once per value object, for at most `limit` objects at a time."""

    def __init__(self, fn: Callable[[Any], T], limit: int = 4096) -> None:
        self._fn = fn
        self._limit = limit
        self._seen: dict[int, tuple[Any, T]] = {}

    def __call__(self, value: Any) -> T:
        hit = self._seen.get(id(value))
        if hit is None or hit[0] is not value:
            if len(self._seen) >= self._limit:
                self._seen.clear()
            hit = self._seen[id(value)] = (value, self._fn(value))
        return hit[1]
