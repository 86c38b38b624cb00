"""Servicers for parts of the contract that are not built yet: every RPC is UNIMPLEMENTED."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import grpc
from grpc import aio


def add_unimplemented(pb2: ModuleType, pb2_grpc: ModuleType, server: aio.Server) -> None:
    """Register every service of `pb2` with handlers that answer UNIMPLEMENTED."""
    for service in pb2.DESCRIPTOR.services_by_name.values():
        servicer = getattr(pb2_grpc, f"{service.name}Servicer")()
        for method in service.methods:
            setattr(
                servicer,
                method.name,
                unimplemented_stream
                if method.serverunimplemented_streaming
                else unimplemented_unary,
            )
        getattr(pb2_grpc, f"add_{service.name}Servicer_to_server")(servicer, server)


async def unimplemented_unary(_request: Any, context: aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not implemented yet")


async def unimplemented_stream(_request: Any, context: aio.ServicerContext) -> Any:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not implemented yet")
    yield  # pragma: no cover - makes this an async generator
