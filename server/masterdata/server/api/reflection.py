"""Server reflection that carries the proto comments, so `grpcurl describe` documents the API.

The generated *_pb2 modules embed descriptors without source info (no comments), and
grpc_reflection serialises files with `FileDescriptor.CopyToProto`, which drops it
anyway. `make proto` therefore also writes masterdata/v1/descriptor_set.binpb with
source info, and the pool given to reflection hands out those complete
FileDescriptorProtos. It also resolves method names (`Service.Method`), which
protobuf's pools do not, so `grpcurl describe pkg.Service.Method` works.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from typing import Any, cast

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from grpc_health.v1 import health, health_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2

DESCRIPTOR_SET = "descriptor_set.binpb"


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
    return DocumentedPool(pool, documented)


def enable_reflection(server: aio.Server, service_names: Iterable[str]) -> None:
    names = (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME)
    # DocumentedPool stands in for the DescriptorPool: it has what grpc_reflection calls.
    pool = cast(descriptor_pool.DescriptorPool, documented_pool())
    reflection.enable_server_reflection(names, server, pool=pool)
