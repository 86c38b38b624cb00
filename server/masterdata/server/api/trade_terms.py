"""TradeTermsService: the standard methods of every trade-term family, bound in a loop.

There is no per-family code here: each spec of TRADE_TERM_SPECS gets the generic
handlers, with the proto spellings read from the service descriptor.
"""

from __future__ import annotations

from masterdata.server.api.registration import ServiceRegistry
from masterdata.server.api.standard_methods import bind_standard_methods
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.service import ResourceService
from masterdata.server.services.trade_terms import TRADE_TERM_SPECS
from masterdata.v1 import trade_terms_pb2, trade_terms_pb2_grpc


class TradeTermsServicer(trade_terms_pb2_grpc.TradeTermsServiceServicer):
    """Every RPC is a generic standard method of one of the six families."""

    def __init__(self, services: list[ResourceService]) -> None:
        for service in services:
            bind_standard_methods(self, trade_terms_pb2, service)


def add_to_server(server: ServiceRegistry, runtime: Runtime) -> None:
    services = [ResourceService(runtime, spec) for spec in TRADE_TERM_SPECS]
    trade_terms_pb2_grpc.add_TradeTermsServiceServicer_to_server(
        TradeTermsServicer(services), server
    )
