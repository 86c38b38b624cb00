"""A bounded memo for values built from request text: filters, statements."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

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
