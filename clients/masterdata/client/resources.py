"""The list-able resources, derived from the descriptors: what Mirror and paging need.

A resource is the element of the one repeated message field of a unary `List*`
response whose message has an `id`: `ListCommodities` → `commodities` of
`Commodity`, aggregate type `commodity` (the snake_case message name, which is what
the event feed calls it), fetched one by one with `Get<Message>`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import cast

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from masterdata.client.methods import FILES

PAGE_TOKEN = "page_token"
NEXT_PAGE_TOKEN = "next_page_token"


@dataclass(frozen=True)
class Resource:
    """One list-able resource type and the RPC shapes that serve it."""

    name: str  # "commodities": the List response field, the key Mirror takes
    aggregate_type: str  # "commodity"
    list_path: str  # "/masterdata.v1.CommodityService/ListCommodities"
    list_request: type[Message]
    list_response: type[Message]
    message: type[Message]  # Commodity


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def descriptor_of(message: Message | type[Message]) -> Descriptor:
    """`message.DESCRIPTOR`, typed as what it is at run time.

    The stubs type `Message.DESCRIPTOR` as a union with the upb class; at run time
    that class's instances are instances of `descriptor.Descriptor`.
    """
    return cast(Descriptor, message.DESCRIPTOR)


def is_repeated(field: FieldDescriptor) -> bool:
    """Whether `field` is repeated, on every protobuf the client runs with.

    protobuf 6.31 added `is_repeated`, and 7 removed `label`, all that 5.x has.
    """
    repeated: bool | None = getattr(field, "is_repeated", None)
    if repeated is None:
        return bool(getattr(field, "label") == FieldDescriptor.LABEL_REPEATED)  # noqa: B009
    return repeated


def items_field(response: Descriptor) -> FieldDescriptor | None:
    """The single repeated message field of a List response (its page of items)."""
    repeated = [
        f for f in response.fields if is_repeated(f) and f.type == FieldDescriptor.TYPE_MESSAGE
    ]
    return repeated[0] if len(repeated) == 1 else None


def _resource_of(method: MethodDescriptor) -> Resource | None:
    if not method.name.startswith("List") or method.client_streaming or method.server_streaming:
        return None
    items = items_field(method.output_type)
    if items is None or items.message_type is None or "id" not in items.message_type.fields_by_name:
        return None
    return Resource(
        name=items.name,
        aggregate_type=snake_case(items.message_type.name),
        list_path=f"/{method.containing_service.full_name}/{method.name}",
        list_request=message_factory.GetMessageClass(method.input_type),
        list_response=message_factory.GetMessageClass(method.output_type),
        message=message_factory.GetMessageClass(items.message_type),
    )


@functools.cache
def resource_table() -> dict[str, Resource]:
    """Every list-able masterdata.v1 resource by name ("commodities", "locations", ...)."""
    table: dict[str, Resource] = {}
    for file in FILES:
        for service in file.services_by_name.values():
            for method in service.methods:
                if (resource := _resource_of(method)) is not None:
                    table[resource.name] = resource
    return table


def find_resource(name: str) -> Resource:
    """The Resource called `name`; KeyError naming the known ones otherwise."""
    try:
        return resource_table()[name]
    except KeyError:
        known = ", ".join(sorted(resource_table()))
        raise KeyError(f"unknown resource {name!r}; list-able resources: {known}") from None
