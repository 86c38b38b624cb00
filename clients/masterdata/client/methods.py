"""What the client knows about each RPC, derived once from the proto descriptors.

Nothing here names a method: a method is a *read* when its name starts with one of
the read verbs of the API conventions, a *feed* when it is an endless stream
(Subscribe/Watch), and *idempotent by request_id* when its request message has a
top-level `string request_id` field. Retries, default deadlines and request_id
filling all follow from this table, so a new RPC in the protos needs no client code.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from google.protobuf.descriptor import FieldDescriptor, FileDescriptor, MethodDescriptor
from grpc_health.v1 import health_pb2

from masterdata.v1 import (
    commodity_pb2,
    events_pb2,
    location_pb2,
    organization_pb2,
    trade_terms_pb2,
)

#: Method-name prefixes of calls that change nothing (AIP standard and custom reads).
READ_VERBS = ("Get", "List", "BatchGet", "Search", "Suggest", "Convert", "Export", "Check")
#: Prefixes of endless streams: no deadline, no transparent retry (subscribe resumes).
FEED_VERBS = ("Subscribe", "Watch")
REQUEST_ID = "request_id"

FILES: tuple[FileDescriptor, ...] = (
    location_pb2.DESCRIPTOR,
    organization_pb2.DESCRIPTOR,
    commodity_pb2.DESCRIPTOR,
    trade_terms_pb2.DESCRIPTOR,
    events_pb2.DESCRIPTOR,
    # Typed as the upb class by its stubs; a descriptor.FileDescriptor at run time.
    cast(FileDescriptor, health_pb2.DESCRIPTOR),
)


class CallKind(enum.Enum):
    """Which default deadline a call gets."""

    READ = "read"
    WRITE = "write"
    STREAM = "stream"
    FEED = "feed"


@dataclass(frozen=True)
class MethodInfo:
    """One RPC as the client policy sees it."""

    service: str
    name: str
    client_streaming: bool
    server_streaming: bool
    read: bool
    feed: bool
    has_request_id: bool

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    @property
    def kind(self) -> CallKind:
        if self.feed:
            return CallKind.FEED
        if self.client_streaming or self.server_streaming:
            return CallKind.STREAM
        return CallKind.READ if self.read else CallKind.WRITE

    @property
    def retryable(self) -> bool:
        """Safe to send again after UNAVAILABLE: a read, or a write the server dedupes.

        Client streams are left out: grpc can replay only what it still buffers.
        """
        if self.client_streaming or self.feed:
            return False
        return self.read or self.has_request_id


def _has_request_id(method: MethodDescriptor) -> bool:
    field = method.input_type.fields_by_name.get(REQUEST_ID)
    return field is not None and field.type == FieldDescriptor.TYPE_STRING


def describe(method: MethodDescriptor) -> MethodInfo:
    return MethodInfo(
        service=method.containing_service.full_name,
        name=method.name,
        client_streaming=method.client_streaming,
        server_streaming=method.server_streaming,
        read=method.name.startswith(READ_VERBS + FEED_VERBS),
        feed=method.name.startswith(FEED_VERBS),
        has_request_id=_has_request_id(method),
    )


def methods_of(files: Iterable[FileDescriptor]) -> dict[str, MethodInfo]:
    """Every RPC of `files`, keyed by its path `/package.Service/Method`."""
    table: dict[str, MethodInfo] = {}
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                info = describe(method)
                table[info.path] = info
    return table


@functools.cache
def method_table() -> dict[str, MethodInfo]:
    """The RPCs of every masterdata.v1 service plus grpc.health.v1.Health."""
    return methods_of(FILES)


def lookup(path: str | bytes) -> MethodInfo | None:
    """The MethodInfo of a call path (grpc.aio passes bytes, sync grpc str)."""
    if isinstance(path, bytes):
        path = path.decode()
    return method_table().get(path)
