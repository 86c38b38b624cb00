"""A page response written from its items' serializations (protobuf wire format).

Why (py-spy on bench/cpu_per_call.py's ListCommodities): a page of 20 commodities
copied into its response message (protobuf copies a message added to a repeated
field) and serialized again cost ~50 µs a call. Its items are rendered, and
serialized, once per revision (resources/rendered.py), and on the wire a repeated
message field is nothing but each item's bytes behind the field's tag and length.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_LENGTH_DELIMITED = 2


@dataclass(frozen=True)
class PageFields:
    """The tags of a page response's two fields: its items and its next_page_token."""

    items: bytes
    next_page_token: bytes

    @classmethod
    def of(cls, response: type[Message]) -> PageFields:
        """Those of `response`, which must have just these two fields: one more would
        be left out of every reply."""
        descriptor = response.DESCRIPTOR
        items = [f for f in descriptor.fields if f.is_repeated and f.message_type is not None]
        token = descriptor.fields_by_name.get("next_page_token")
        if len(descriptor.fields) != 2 or len(items) != 1 or token is None or token.is_repeated:
            raise TypeError(f"{descriptor.full_name} is not a page of items and a token")
        if token.type != FieldDescriptor.TYPE_STRING:
            raise TypeError(f"{descriptor.full_name}.next_page_token is not a string")
        return cls(length_delimited_tag(items[0].number), length_delimited_tag(token.number))


def page_reply(fields: PageFields, items: Sequence[bytes], next_page_token: str) -> bytes:
    """The serialized response: each item's bytes as an element of the repeated field,
    then the token (the order of fields on the wire does not matter to a parser)."""
    parts: list[bytes] = []
    for item in items:
        parts += (fields.items, varint(len(item)), item)
    if next_page_token:
        token = next_page_token.encode()
        parts += (fields.next_page_token, varint(len(token)), token)
    return b"".join(parts)


def length_delimited_tag(number: int) -> bytes:
    """The wire tag of field `number` holding a string, bytes or a message."""
    return varint(number << 3 | _LENGTH_DELIMITED)


def varint(value: int) -> bytes:
    """`value` (≥ 0) as a protobuf base-128 varint."""
    encoded = bytearray()
    while value > 0x7F:
        encoded.append(value & 0x7F | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)
