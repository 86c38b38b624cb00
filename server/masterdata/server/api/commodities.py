"""CommodityService (not built yet: every RPC answers UNIMPLEMENTED)."""

from __future__ import annotations

from grpc import aio

from masterdata.server.api.unimplemented import add_unimplemented
from masterdata.server.resources.runtime import Runtime
from masterdata.v1 import commodity_pb2, commodity_pb2_grpc


def add_to_server(server: aio.Server, runtime: Runtime) -> None:
    add_unimplemented(commodity_pb2, commodity_pb2_grpc, server)
