"""Row values -> Commodity message for the events of an import, in one constructor call.

Why not `codec.to_message` as record_event does: it sets ~45 fields one by one
through generic writers, ~60 µs a row — more than the whole database write of
a row. Building the keyword arguments and calling the message constructor once
gives the same message (tests/unit/test_bulk_parsing.py compares them) in
~10 µs. The arguments are the codec's own (`MessageCodec.scalar_kwargs`, which
`render` uses too), so a new field cannot be forgotten here; only timestamps and
Structs are built here, remembered across the rows of an import.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from google.protobuf.message import Message

from masterdata.server.domain.descriptors import descriptor_of, message_type_of
from masterdata.server.memos import IdentityMemo
from masterdata.server.resources.codec import codec_for
from masterdata.server.resources.spec import ResourceSpec
from masterdata.server.storage.base import utc

_STRUCT = "google.protobuf.Struct"
_CACHE_SIZE = 4096


class MessageBuilder:
    """Builds the (masked) resource message of a row given as a column-value mapping."""

    def __init__(self, spec: ResourceSpec) -> None:
        self.codec = codec_for(spec)
        self.message_type = spec.message
        fields = descriptor_of(spec.message).fields_by_name
        for name in self.codec.message_fields:
            field = fields[name]
            if field.is_repeated or message_type_of(field).full_name != _STRUCT:
                raise TypeError(f"MessageBuilder cannot build {name}")
        #: The document fields, built as Structs (the rest is the codec's `scalar_kwargs`).
        self.struct_fields = self.codec.message_fields
        #: The row's keys that `build` reads.
        self.columns_read = frozenset(self.codec.rendered)
        self._times: dict[datetime, timestamp_pb2.Timestamp] = {}
        #: One Struct per document object (an import shares one dict per distinct cell text).
        self._struct = IdentityMemo(_as_struct, _CACHE_SIZE)

    def build(self, row: Mapping[str, Any]) -> Message:
        """The message codec.to_message would make of `row`, masked like record_event's."""
        message = self.message_type(**self.kwargs(row))
        return self.codec.mask(message) if self.codec.masked else message

    def kwargs(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The message's constructor arguments (unmasked) for `row`: the codec's, with
        timestamps and Structs remembered across the rows of an import."""
        kwargs = self.codec.scalar_kwargs(row)
        kwargs["create_time"] = self._timestamp(row["create_time"])
        kwargs["update_time"] = self._timestamp(row["update_time"])
        if row["delete_time"] is not None:
            kwargs["delete_time"] = self._timestamp(row["delete_time"])
        for name in self.struct_fields:
            if row[name]:  # like the codec, an empty document stays unset
                kwargs[name] = self._struct(row[name])
        return kwargs

    def _timestamp(self, value: datetime) -> timestamp_pb2.Timestamp:
        stamp = self._times.get(value)
        if stamp is None:
            if len(self._times) > _CACHE_SIZE:
                self._times.clear()
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(utc(value))
            self._times[value] = stamp
        return stamp


def _as_struct(document: Any) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(document)
    return struct
