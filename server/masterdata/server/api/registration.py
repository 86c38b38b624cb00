"""How the API's servicers are registered: each method wrapped once, as a generic handler.

Generated `add_*Servicer_to_server(servicer, server)` functions hand the same
method handlers to `server.add_generic_rpc_handlers` and to
`server.add_registered_method_handlers`. `ServiceRegistry` stands in for the
server: it takes the handlers from the second call, wraps each in the call
boundary, and registers them on the real server as one generic handler.

Why generic only (profiled with bench/commodity_reads.py): for every *registered*
method grpc.aio keeps a pending request task and waits on all of them
(`asyncio.wait(..., FIRST_COMPLETED)`) each time a call arrives — O(methods) work
per RPC with the ~120 methods of this contract. Generic handlers share one request
loop and are found by name in a dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import grpc
from grpc import aio

from masterdata.server.api.call_boundary import CallBoundary


class ServiceRegistry:
    """What generated registration functions call on a server, for our services."""

    def __init__(self, server: aio.Server, boundary: CallBoundary) -> None:
        self._server = server
        self._boundary = boundary

    def as_server(self) -> aio.Server:
        """This registry, typed as what the generated adders take (they call only the two
        methods below)."""
        return cast(aio.Server, self)

    def add_generic_rpc_handlers(self, handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        """Ignored: the same handlers arrive through add_registered_method_handlers.

        (A servicer whose adder only called this would answer UNIMPLEMENTED, which
        every API test would notice.)
        """

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        wrapped = {
            name: self._boundary.wrap(f"/{service_name}/{name}", handler)
            for name, handler in method_handlers.items()
        }
        self._server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service_name, wrapped),)
        )
