"""The one string rule of both backends: text PostgreSQL cannot store is refused.

PostgreSQL's text and jsonb cannot hold U+0000 (asyncpg raises
UntranslatableCharacterError), while SQLite stores it. Refusing it everywhere —
fields, list elements, map keys and values, `Struct`s at any depth, import cells —
keeps both backends answering alike and data movable between them. Protobuf has
already refused invalid UTF-8, so NUL is the only character left to refuse.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from masterdata.server.domain.descriptors import message_type_of
from masterdata.server.domain.errors import FieldViolation

UNSTORABLE = "\x00"
REASON = "INVALID_CHARACTERS"
DESCRIPTION = "must not contain NUL (U+0000) characters"

_JSON_TYPES = frozenset(
    {"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"}
)
_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def key_path(path: str, key: object) -> str:
    """`path["key"]`, the key JSON-escaped so a NUL in it stays readable."""
    return f"{path}[{json.dumps(key)[:100]}]"


def message_violations(
    message: Message, prefix: str = "", *, skip: frozenset[str] = frozenset()
) -> list[FieldViolation]:
    """Every unstorable string of `message`, by field path (`commodity.tags[2]`).

    Messages whose full name is in `skip` are not entered (their checks run
    elsewhere, e.g. import rows become row errors).
    """
    return [
        FieldViolation(path, DESCRIPTION, REASON) for path in _message_paths(message, prefix, skip)
    ]


def value_paths(value: Any, path: str) -> Iterator[str]:
    """Paths of unstorable strings in a plain value (str, list, dict, scalars)."""
    if isinstance(value, str):
        if UNSTORABLE in value:
            yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and UNSTORABLE in key:
                yield key_path(path, key)
            yield from value_paths(item, key_path(path, key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from value_paths(item, f"{path}[{index}]")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _message_paths(message: Message, path: str, skip: frozenset[str]) -> Iterator[str]:
    name = message.DESCRIPTOR.full_name
    if name in skip:
        return
    if name in _JSON_TYPES:
        # Named as JSON would name them: attributes["grade"][0], not .fields["grade"]...
        yield from _json_paths(message, path)
        return
    for field, value in message.ListFields():
        field_path = _join(path, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            yield from _map_paths(field, value, field_path, skip)
        elif field.is_repeated:
            for index, item in enumerate(value):
                yield from _single_paths(field, item, f"{field_path}[{index}]", skip)
        else:
            yield from _single_paths(field, value, field_path, skip)


def _map_paths(
    field: FieldDescriptor, value: Any, path: str, skip: frozenset[str]
) -> Iterator[str]:
    value_field = message_type_of(field).fields_by_name["value"]
    for key, item in value.items():
        if isinstance(key, str) and UNSTORABLE in key:
            yield key_path(path, key)
        yield from _single_paths(value_field, item, key_path(path, key), skip)


def _single_paths(
    field: FieldDescriptor, value: Any, path: str, skip: frozenset[str]
) -> Iterator[str]:
    if field.type == _STRING:
        if UNSTORABLE in value:
            yield path
    elif field.type == _MESSAGE:
        yield from _message_paths(value, path, skip)


def _json_paths(message: Any, path: str) -> Iterator[str]:
    """A Struct, Value or ListValue, walked without converting it (NaN stays legal)."""
    if isinstance(message, struct_pb2.Struct):
        for key, item in message.fields.items():
            if UNSTORABLE in key:
                yield key_path(path, key)
            yield from _json_paths(item, key_path(path, key))
    elif isinstance(message, struct_pb2.ListValue):
        for index, item in enumerate(message.values):
            yield from _json_paths(item, f"{path}[{index}]")
    else:
        kind = message.WhichOneof("kind")
        if kind == "string_value":
            if UNSTORABLE in message.string_value:
                yield path
        elif kind in ("struct_value", "list_value"):
            yield from _json_paths(getattr(message, kind), path)
