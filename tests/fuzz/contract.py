"""Every RPC of the contract, read from the generated modules' descriptors.

Nothing here names an RPC: a method added to a .proto file (and regenerated) is
found, fuzzed and counted without editing the fuzz net.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from grpc import aio

import masterdata.v1

PACKAGE = "masterdata.v1"


@dataclass(frozen=True)
class Rpc:
    """One method of a contract service, and how to call it on any channel."""

    method: MethodDescriptor

    @property
    def name(self) -> str:
        return self.method.name

    @property
    def path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def request_type(self) -> Descriptor:
        return self.method.input_type

    @property
    def response_type(self) -> Descriptor:
        return self.method.output_type

    @property
    def client_streaming(self) -> bool:
        return self.method.client_streaming

    @property
    def server_streaming(self) -> bool:
        return self.method.server_streaming

    def callable(self, channel: aio.Channel) -> Any:
        """The channel's multi-callable of the right arity for this method."""
        make = {
            (False, False): channel.unary_unary,
            (False, True): channel.unary_stream,
            (True, False): channel.stream_unary,
            (True, True): channel.stream_stream,
        }[(self.client_streaming, self.server_streaming)]
        return make(
            self.path,
            request_serializer=message_class(self.request_type).SerializeToString,
            response_deserializer=message_class(self.response_type).FromString,
        )


def message_class(descriptor: Descriptor) -> Any:
    return message_factory.GetMessageClass(descriptor)


@cache
def contract_modules() -> tuple[Any, ...]:
    """Every generated `*_pb2` module of the masterdata.v1 package."""
    names = sorted(
        info.name
        for info in pkgutil.iter_modules(masterdata.v1.__path__)
        if info.name.endswith("_pb2")
    )
    return tuple(importlib.import_module(f"{masterdata.v1.__name__}.{name}") for name in names)


@cache
def contract_rpcs() -> tuple[Rpc, ...]:
    """All methods of all services of package masterdata.v1, in file and declaration order."""
    return tuple(
        Rpc(method)
        for module in contract_modules()
        if module.DESCRIPTOR.package == PACKAGE
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    )
