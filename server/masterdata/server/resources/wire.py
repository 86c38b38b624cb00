"""Responses written from their items' serializations (protobuf wire format).

Why (py-spy on bench/cpu_per_call.py's ListCommodities): a page of 20 commodities
copied into its response message (protobuf copies a message added to a repeated
field) and serialized again cost ~50 µs a call. Its items are rendered, and
serialized, once per revision (resources/rendered.py), and on the wire a message
field is nothing but the message's bytes behind the field's tag and length, once
per element of a repeated one. The same holds for a Get's or a write's response,
which carries one resource (`ItemField`), and a BatchGet's, which carries several.
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


@dataclass(frozen=True)
class ItemField:
    """The tag of a response's only field, a message or messages (a Get's resource, a
    BatchGet's resources)."""

    tag: bytes

    @classmethod
    def of(cls, response: type[Message]) -> ItemField:
        """That of `response`, which must have just this field: another would be left
        out of every reply."""
        descriptor = response.DESCRIPTOR
        fields = descriptor.fields
        if len(fields) != 1 or fields[0].message_type is None:
            raise TypeError(f"{descriptor.full_name} is not one field of messages")
        return cls(length_delimited_tag(fields[0].number))

    def reply(self, item: bytes) -> bytes:
        """The serialized response carrying the message serialized as `item`."""
        return b"".join((self.tag, varint(len(item)), item))

    def replies(self, items: Sequence[bytes]) -> bytes:
        """The serialized response carrying the messages serialized as `items`, in order
        (the field repeated)."""
        return b"".join(_elements(self.tag, items))


def page_reply(fields: PageFields, items: Sequence[bytes], next_page_token: str) -> bytes:
    """The serialized response: each item's bytes as an element of the repeated field,
    then the token (the order of fields on the wire does not matter to a parser)."""
    parts = _elements(fields.items, items)
    if next_page_token:
        token = next_page_token.encode()
        parts += (fields.next_page_token, varint(len(token)), token)
    return b"".join(parts)


def _elements(tag: bytes, items: Sequence[bytes]) -> list[bytes]:
    parts: list[bytes] = []
    for item in items:
        parts += (tag, varint(len(item)), item)
    return parts


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
