"""Which RPCs `get` and `list` call for a resource name — derived, never listed by hand.

The SDK's `resource_table()` already finds every list-able resource in the
descriptors (`ListCommodities` → `commodities` of `Commodity`). The `Get` method of
a resource is the unary method of the same file whose request has a string `id`
and whose response has a field of the resource's message type. A name on the
command line may be singular or plural, with `-` or `_`: `gst-registration`,
`gst_registrations`, `commodity`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message

from masterdata.cli.connection import UsageError
from masterdata.client.resources import Resource, descriptor_of, is_repeated, resource_table


@dataclass(frozen=True)
class Rpc:
    """A unary method: its path and message classes, and the reply field to print."""

    path: str
    request: Callable[..., Message]  # a message class, called with field values
    response: type[Message]
    field: str


@dataclass(frozen=True)
class CliResource:
    """A resource as `get` and `list` see it."""

    name: str  # "gst-registration"
    listing: Resource
    get: Rpc | None

    @property
    def descriptor(self) -> Descriptor:
        return descriptor_of(self.listing.message)


def _message_field(output: Descriptor, message: Descriptor) -> FieldDescriptor | None:
    for field in output.fields:
        if not is_repeated(field) and field.message_type is message:
            return field
    return None


def _is_get(method: MethodDescriptor, message: Descriptor) -> FieldDescriptor | None:
    """The reply field holding the resource when `method` reads one by id, else None."""
    if method.client_streaming or method.server_streaming:
        return None
    id_field = method.input_type.fields_by_name.get("id")
    if id_field is None or id_field.type != FieldDescriptor.TYPE_STRING:
        return None
    if not method.name.startswith("Get"):
        return None  # Delete/Undelete/Activate also take an id and return the resource
    return _message_field(method.output_type, message)


def _get_rpc(message: Descriptor) -> Rpc | None:
    for service in message.file.services_by_name.values():
        for method in service.methods:
            if (field := _is_get(method, message)) is not None:
                return Rpc(
                    path=f"/{service.full_name}/{method.name}",
                    request=message_factory.GetMessageClass(method.input_type),
                    response=message_factory.GetMessageClass(method.output_type),
                    field=field.name,
                )
    return None


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


@functools.cache
def cli_resources() -> dict[str, CliResource]:
    """Every resource by its command-line name ("location", "gst-registration", ...)."""
    table: dict[str, CliResource] = {}
    for listing in resource_table().values():
        name = listing.aggregate_type.replace("_", "-")
        table[name] = CliResource(name, listing, _get_rpc(descriptor_of(listing.message)))
    return table


@functools.cache
def _aliases() -> dict[str, CliResource]:
    aliases: dict[str, CliResource] = {}
    for resource in cli_resources().values():
        for alias in (resource.name, resource.listing.aggregate_type, resource.listing.name):
            aliases[_key(alias)] = resource
    return aliases


def find_resource(name: str) -> CliResource:
    """The resource a command-line name means; UsageError naming the known ones."""
    try:
        return _aliases()[_key(name)]
    except KeyError:
        known = ", ".join(sorted(cli_resources()))
        raise UsageError(f"unknown resource {name!r}; one of: {known}") from None
