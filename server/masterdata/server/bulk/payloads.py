"""The serialized Commodity of each event of an import, mostly from cached pieces.

Why: building a message per row (MessageBuilder.build, ~10 us) and serializing it
was a quarter of the server's CPU per imported row. A message's bytes are its
fields' bytes in field-number order, so they can be put together from pieces:
the fields that differ from row to row (id, name, description, codes) are
encoded here directly, and each run of fields between them (units, rates,
lists, documents, audit fields) is serialized once per distinct set of values
and then reused - an import's rows repeat them. Every piece is serialized by
protobuf itself from the same keyword arguments MessageBuilder gives, so the
bytes are the same (tests/unit/test_bulk_parsing.py compares them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from masterdata.server.bulk.messages import MessageBuilder
from masterdata.server.bulk.value_keys import KeyedMemo
from masterdata.server.domain.descriptors import descriptor_of
from masterdata.server.resources.wire import length_delimited_tag, varint

#: String fields encoded for every row: their values rarely repeat.
OWN = frozenset({"id", "name", "category", "hsn_code", "hs_code_6digit", "description"})


def _string_encoder(number: int, name: str) -> Callable[[Mapping[str, Any]], bytes]:
    tag = length_delimited_tag(number)
    lengths = [tag + bytes((n,)) for n in range(128)]

    def encode(row: Mapping[str, Any]) -> bytes:
        value = row[name]
        if not value:
            return b""
        data = str(value).encode()
        size = len(data)
        return (lengths[size] if size < 128 else tag + varint(size)) + data

    return encode


class _Run:
    """A run of fields between own fields: its bytes, once per distinct set of values."""

    def __init__(self, builder: MessageBuilder, fields: Sequence[FieldDescriptor]) -> None:
        self.builder = builder
        self.names = [f.name for f in fields]
        read = builder.columns_read
        columns = [n for n in self.names if n in read]
        if "etag" in self.names:
            columns.append("revision")
        lists = [f.name for f in fields if f.is_repeated and f.name in read]
        documents = [n for n in columns if n in builder.struct_fields]
        plain = [n for n in columns if n not in lists and n not in documents]
        self.encode = KeyedMemo(self._serialize, plain=plain, lists=lists, documents=documents)

    def _serialize(self, row: Mapping[str, Any]) -> bytes:
        kwargs = self.builder.kwargs(row)
        part = {name: kwargs[name] for name in self.names if name in kwargs}
        return self.builder.message_type(**part).SerializeToString()


_SHAPES = 4096
_audit = itemgetter(
    "create_time", "update_time", "delete_time", "created_by", "updated_by", "revision"
)


class PayloadEncoder:
    """Rows -> the bytes of `MessageBuilder.build(row).SerializeToString()`, faster."""

    def __init__(self, builder: MessageBuilder) -> None:
        if builder.codec.masked:
            raise TypeError("PayloadEncoder does not mask: use MessageBuilder")
        self.parts: list[Callable[[Mapping[str, Any]], bytes]] = []
        #: Per part: its own-field encoder, or None for a run (in `runs` order).
        self._layout: list[Callable[[Mapping[str, Any]], bytes] | None] = []
        self._runs: list[Callable[[Mapping[str, Any]], bytes]] = []
        run: list[FieldDescriptor] = []
        for field in sorted(descriptor_of(builder.message_type).fields, key=lambda f: f.number):
            if field.name in OWN and field.type == FieldDescriptor.TYPE_STRING:
                if run:
                    self._add_run(builder, run)
                    run = []
                encode = _string_encoder(field.number, field.name)
                self.parts.append(encode)
                self._layout.append(encode)
            else:
                run.append(field)
        if run:
            self._add_run(builder, run)
        self._by_shape: dict[tuple[Any, ...], list[bytes]] = {}
        self._shapes_alive: list[Any] = []

    def _add_run(self, builder: MessageBuilder, fields: Sequence[FieldDescriptor]) -> None:
        encode = _Run(builder, fields).encode
        self.parts.append(encode)
        self._layout.append(None)
        self._runs.append(encode)

    def payload(self, row: Mapping[str, Any], shape: Any = None) -> bytes:
        """The row's bytes; `shape`, if given, is what its fields but OWN and the audit
        ones are a function of (planning.Plan.create_shapes), so its runs are looked up
        by it and the audit values alone."""
        if shape is None:
            return b"".join([part(row) for part in self.parts])
        key = (id(shape), *_audit(row))
        runs = self._by_shape.get(key)
        if runs is None:
            if len(self._by_shape) >= _SHAPES:
                self._by_shape.clear()
                self._shapes_alive.clear()
            runs = self._by_shape[key] = [encode(row) for encode in self._runs]
            self._shapes_alive.append(shape)
        pieces = iter(runs)
        return b"".join([next(pieces) if own is None else own(row) for own in self._layout])
