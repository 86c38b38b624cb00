"""Rendered messages of rows, kept by (id, revision, revealed).

Why: rendering a row into its message costs tens of microseconds (a commodity has
some forty fields, two of them JSON documents), a List page renders a hundred,
and master data is read far more often than it changes. A row renders the same
until its revision moves — every write bumps the revision, which the ETag
contract already relies on — so the key needs no invalidation. The database is
still asked on every call: Get reads the row, List and Search read the keys (id,
revision) and then only the rows whose revision has no rendered message.

The messages are shared: callers copy them into responses (protobuf copies a
message assigned to a field) and must never change them. Each is serialized at
most once, when a page is first sent with it: a List or Search reply is written
from its items' bytes (resources/wire.py), not copied into a response message and
serialized again (~50 µs of a page of 20 commodities, py-spy).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from google.protobuf.message import Message


class Rendered:
    """A rendered message and, once asked for, its serialization."""

    __slots__ = ("_wire", "message")

    def __init__(self, message: Message) -> None:
        self.message = message
        self._wire: bytes | None = None

    def wire(self) -> bytes:
        wire = self._wire
        if wire is None:
            wire = self._wire = self.message.SerializeToString()
        return wire


class RenderedMessages:
    """A bounded LRU map from (id, revision, revealed) to a rendered message."""

    __slots__ = ("_entries", "_size")

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[Any, int, bool], Rendered] = OrderedDict()

    def get(self, row: Any, revealed: bool, render: Callable[[], Message]) -> Rendered:
        """The message of `row`, rendered by `render()` unless this revision is known."""
        if self._size <= 0:
            return Rendered(render())
        rendered = self.known(row.id, row.revision, revealed)
        if rendered is not None:
            return rendered
        key = (row.id, row.revision, revealed)
        rendered = self._entries[key] = Rendered(render())
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return rendered

    def known(self, id_: Any, revision: int, revealed: bool) -> Rendered | None:
        """This revision of a row, if it has been rendered."""
        key = (id_, revision, revealed)
        rendered = self._entries.get(key)
        if rendered is not None:
            self._entries.move_to_end(key)
        return rendered
