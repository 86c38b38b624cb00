"""Server reflection that carries the proto comments, so `grpcurl describe` documents the API.

The generated *_pb2 modules embed descriptors without source info (no comments), and
grpc_reflection serialises files with `FileDescriptor.CopyToProto`, which drops it
anyway. `make proto` therefore also writes masterdata/v1/descriptor_set.binpb with
source info, and the pool given to reflection hands out those complete
FileDescriptorProtos. It also resolves method names (`Service.Method`), which
protobuf's pools do not, so `grpcurl describe pkg.Service.Method` works.

Reflection is served as `grpc.reflection.v1` (what grpcurl and current clients ask
first) and as `v1alpha` (older clients). grpc_reflection ships v1alpha only; the two
protos differ in their package alone, so v1 is v1alpha's servicer under v1's name,
and v1's file is v1alpha's descriptor renamed.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any, cast

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

DESCRIPTOR_SET = "descriptor_set.binpb"
V1_PACKAGE = "grpc.reflection.v1"
V1_SERVICE_NAME = f"{V1_PACKAGE}.ServerReflection"


class _DocumentedFile:
    """A FileDescriptor whose CopyToProto includes source info (comments)."""

    def __init__(self, file: FileDescriptor, documented: dict[str, bytes]) -> None:
        self._file, self._documented = file, documented
        self.name = file.name

    @property
    def dependencies(self) -> list[_DocumentedFile]:
        return [_DocumentedFile(dep, self._documented) for dep in self._file.dependencies]

    def CopyToProto(self, proto: descriptor_pb2.FileDescriptorProto) -> None:
        serialized = self._documented.get(self.name)
        if serialized is None:
            self._file.CopyToProto(proto)
        else:
            proto.ParseFromString(serialized)


class DocumentedPool:
    """The subset of the DescriptorPool API that grpc_reflection uses."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, documented: dict[str, bytes]) -> None:
        self._pool, self._documented = pool, documented

    def FindFileByName(self, name: str) -> _DocumentedFile:
        return _DocumentedFile(self._pool.FindFileByName(name), self._documented)

    def FindFileContainingSymbol(self, symbol: str) -> _DocumentedFile:
        try:
            file = self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            parent = symbol.rpartition(".")[0]
            if not parent:
                raise
            file = self._pool.FindServiceByName(parent).file  # a method: Service.Method
        return _DocumentedFile(file, self._documented)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)  # FindMessageTypeByName, FindAllExtensions, ...


def documented_pool() -> DocumentedPool:
    """The contract (with comments), health, reflection and the google.rpc error details."""
    data = resources.files("masterdata.v1").joinpath(DESCRIPTOR_SET).read_bytes()
    pool = descriptor_pool.DescriptorPool()
    documented: dict[str, bytes] = {}
    for file in descriptor_pb2.FileDescriptorSet.FromString(data).file:
        serialized = file.SerializeToString()
        pool.AddSerializedFile(serialized)
        documented[file.name] = serialized
    for module in (health_pb2, reflection_pb2, status_pb2, error_details_pb2):
        if module.DESCRIPTOR.name not in documented:
            pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(v1_reflection_file().SerializeToString())
    return DocumentedPool(pool, documented)


def v1_reflection_file() -> descriptor_pb2.FileDescriptorProto:
    """grpc/reflection/v1/reflection.proto: v1alpha's file with v1's names."""
    file = descriptor_pb2.FileDescriptorProto()
    reflection_pb2.DESCRIPTOR.CopyToProto(file)
    old, new = f".{file.package}.", f".{V1_PACKAGE}."
    file.name, file.package = "grpc/reflection/v1/reflection.proto", V1_PACKAGE
    file.options.Clear()  # v1alpha's are deprecated=true and its Java/Go package names
    for message in file.message_type:
        for field in message.field:
            if field.HasField("type_name"):  # set only on message and enum fields
                field.type_name = field.type_name.replace(old, new)
    for method in file.service[0].method:
        method.input_type = method.input_type.replace(old, new)
        method.output_type = method.output_type.replace(old, new)
    return file


def enable_reflection(server: aio.Server, service_names: Iterable[str]) -> None:
    """Serve reflection as v1 and v1alpha, over the contract with its comments."""
    names = (*service_names, health.SERVICE_NAME, V1_SERVICE_NAME, reflection.SERVICE_NAME)
    # DocumentedPool stands in for the DescriptorPool: it has what grpc_reflection calls.
    pool = cast(descriptor_pool.DescriptorPool, documented_pool())
    servicer = reflection.aio.ReflectionServicer(names, pool=pool)
    info = grpc.stream_stream_rpc_method_handler(
        servicer.ServerReflectionInfo,
        request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
        response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
    )
    # One servicer under both names: the messages are the same on the wire.
    server.add_generic_rpc_handlers(
        tuple(
            grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": info})
            for name in (V1_SERVICE_NAME, reflection.SERVICE_NAME)
        )
    )
