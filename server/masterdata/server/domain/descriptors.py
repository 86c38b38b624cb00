"""Protobuf descriptors typed as they are at run time.

The protobuf stubs type `Message.DESCRIPTOR` as a union of the Python and upb
descriptor classes (at run time upb's are instances of the Python ones), and a
field's `message_type` / `enum_type` as optional (set for every message / enum
field). These helpers say so once, so callers need no casts or checks.
"""

from __future__ import annotations

from typing import cast

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message


def descriptor_of(message: Message | type[Message]) -> Descriptor:
    """`message.DESCRIPTOR`."""
    return cast(Descriptor, message.DESCRIPTOR)


def message_type_of(field: FieldDescriptor) -> Descriptor:
    """The message type of a message (or map) field."""
    if field.message_type is None:
        raise TypeError(f"{field.full_name} is not a message field")
    return field.message_type


def enum_type_of(field: FieldDescriptor) -> EnumDescriptor:
    """The enum type of an enum field."""
    if field.enum_type is None:
        raise TypeError(f"{field.full_name} is not an enum field")
    return field.enum_type
