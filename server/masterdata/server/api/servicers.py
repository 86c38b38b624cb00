"""The gRPC servicers: generated bases bound to services; no logic of their own."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from grpc import aio

from masterdata.server.api.standard_methods import ResourceNames, bind, standard_handlers
from masterdata.server.resources.service import ResourceService
from masterdata.v1 import location_pb2, location_pb2_grpc

LOCATION_NAMES = ResourceNames("Location", "Locations", "location", "locations")


class LocationServicer(location_pb2_grpc.LocationServiceServicer):
    """LocationService: the standard methods plus BatchGetLocations."""

    def __init__(self, locations: ResourceService) -> None:
        bind(self, standard_handlers(location_pb2, LOCATION_NAMES, locations, batch_get=True))


def unimplemented_servicer(base: type[Any], service: ServiceDescriptor) -> Any:
    """An instance of `base` whose every RPC answers UNIMPLEMENTED (for later issues)."""

    async def unary(_request: Any, context: aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not implemented yet")

    async def stream(_request: Any, context: aio.ServicerContext) -> Any:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not implemented yet")
        yield  # pragma: no cover - makes this an async generator

    servicer = base()
    for method in service.methods:
        setattr(servicer, method.name, stream if method.server_streaming else unary)
    return servicer
