"""TradeTermsService: the standard methods of every trade-term family.

There is no per-family code here: each row of TRADE_TERM_METHODS names a family's
RPCs, and its spec of TRADE_TERM_SPECS gets the generic handlers.
"""

from __future__ import annotations

from masterdata.server.api.registration import ServiceRegistry
from masterdata.server.api.standard_methods import StandardMethods, bind_standard_methods
from masterdata.server.families.trade_terms import TRADE_TERM_SPECS
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import Resources
from masterdata.v1 import trade_terms_pb2, trade_terms_pb2_grpc

#: The standard methods of TradeTermsService, one row per family (api/standard_methods.py).
TRADE_TERM_METHODS = (
    StandardMethods(
        "trade_type",
        create="CreateTradeType",
        get="GetTradeType",
        list="ListTradeTypes",
        update="UpdateTradeType",
        delete="DeleteTradeType",
        undelete="UndeleteTradeType",
    ),
    StandardMethods(
        "bargain_type",
        create="CreateBargainType",
        get="GetBargainType",
        list="ListBargainTypes",
        update="UpdateBargainType",
        delete="DeleteBargainType",
        undelete="UndeleteBargainType",
    ),
    StandardMethods(
        "passing_term",
        create="CreatePassingTerm",
        get="GetPassingTerm",
        list="ListPassingTerms",
        update="UpdatePassingTerm",
        delete="DeletePassingTerm",
        undelete="UndeletePassingTerm",
    ),
    StandardMethods(
        "weightment_term",
        create="CreateWeightmentTerm",
        get="GetWeightmentTerm",
        list="ListWeightmentTerms",
        update="UpdateWeightmentTerm",
        delete="DeleteWeightmentTerm",
        undelete="UndeleteWeightmentTerm",
    ),
    StandardMethods(
        "delivery_term",
        create="CreateDeliveryTerm",
        get="GetDeliveryTerm",
        list="ListDeliveryTerms",
        update="UpdateDeliveryTerm",
        delete="DeleteDeliveryTerm",
        undelete="UndeleteDeliveryTerm",
    ),
    StandardMethods(
        "payment_term",
        create="CreatePaymentTerm",
        get="GetPaymentTerm",
        list="ListPaymentTerms",
        update="UpdatePaymentTerm",
        delete="DeletePaymentTerm",
        undelete="UndeletePaymentTerm",
    ),
)


class TradeTermsServicer(trade_terms_pb2_grpc.TradeTermsServiceServicer):
    """Every RPC is a generic standard method of one of the six families."""

    def __init__(self, services: list[Resources]) -> None:
        bind_standard_methods(self, trade_terms_pb2, services, TRADE_TERM_METHODS)


def add_to_server(server: ServiceRegistry, runtime: Runtime) -> None:
    services = [Resources(runtime, spec) for spec in TRADE_TERM_SPECS]
    # Abstract to mypy: the standard methods are bound by name in __init__.
    servicer = TradeTermsServicer(services)  # type: ignore[abstract]
    trade_terms_pb2_grpc.add_TradeTermsServiceServicer_to_server(servicer, server.as_server())
