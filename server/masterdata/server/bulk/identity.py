"""A function's results remembered per object identity, for the documents of an import.

Why by identity: JSON documents are dicts (unhashable), and a file's rows share
one parsed dict per distinct cell text (cells.py), so "the same object" is both
cheap to test and the common case. Documents are never mutated after conversion,
so a result stays true; the memo holds each object, so its id is not reused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


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
