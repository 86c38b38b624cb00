"""OrganizationService: generic standard methods for its five resources, plus
ActivateFinancialYear, NextDocumentNumber and RollOverDocumentSeries."""

from __future__ import annotations

from typing import Any, cast

from grpc import aio

from masterdata.server.api.registration import ServiceRegistry
from masterdata.server.api.standard_methods import StandardMethods, bind_standard_methods
from masterdata.server.families.organizations import OrganizationFamily
from masterdata.server.resources.caller import current_caller
from masterdata.server.resources.runtime import Runtime
from masterdata.v1 import organization_pb2 as pb
from masterdata.v1 import organization_pb2_grpc

#: The standard methods of OrganizationService, one row per resource (api/standard_methods.py).
ORGANIZATION_METHODS = (
    StandardMethods(
        "organization",
        create="CreateOrganization",
        get="GetOrganization",
        list="ListOrganizations",
        update="UpdateOrganization",
        delete="DeleteOrganization",
        undelete="UndeleteOrganization",
    ),
    StandardMethods(
        "gst_registration",
        create="CreateGstRegistration",
        get="GetGstRegistration",
        list="ListGstRegistrations",
        update="UpdateGstRegistration",
        delete="DeleteGstRegistration",
        undelete="UndeleteGstRegistration",
        parent_field="organization_id",
    ),
    StandardMethods(
        "bank_account",
        create="CreateBankAccount",
        get="GetBankAccount",
        list="ListBankAccounts",
        update="UpdateBankAccount",
        delete="DeleteBankAccount",
        undelete="UndeleteBankAccount",
        parent_field="organization_id",
    ),
    StandardMethods(
        "financial_year",
        create="CreateFinancialYear",
        get="GetFinancialYear",
        list="ListFinancialYears",
        update="UpdateFinancialYear",
        delete="DeleteFinancialYear",
        undelete="UndeleteFinancialYear",
        parent_field="organization_id",
    ),
    StandardMethods(
        "document_series",
        create="CreateDocumentSeries",
        get="GetDocumentSeries",
        list="ListDocumentSeries",
        update="UpdateDocumentSeries",
        delete="DeleteDocumentSeries",
        undelete="UndeleteDocumentSeries",
        parent_field="organization_id",
    ),
)


class OrganizationServicer(organization_pb2_grpc.OrganizationServiceServicer):
    """Standard methods are generic; the three special RPCs translate and delegate."""

    def __init__(self, services: OrganizationFamily) -> None:
        self.services = services
        bind_standard_methods(self, pb, services.all(), ORGANIZATION_METHODS)

    async def ActivateFinancialYear(
        self, request: pb.ActivateFinancialYearRequest, _context: aio.ServicerContext[Any, Any]
    ) -> pb.ActivateFinancialYearResponse:
        year = await self.services.financial_years.activate(
            request.id, request.etag, current_caller(), organization_id=request.organization_id
        )
        return pb.ActivateFinancialYearResponse(financial_year=cast(pb.FinancialYear, year))

    async def NextDocumentNumber(
        self, request: pb.NextDocumentNumberRequest, _context: aio.ServicerContext[Any, Any]
    ) -> pb.NextDocumentNumberResponse:
        day = request.issue_date
        issue_date = (day.year, day.month, day.day) if request.HasField("issue_date") else None
        return await self.services.document_series.next_number(
            request.organization_id,
            request.document_type,
            issue_date,
            current_caller(),
        )

    async def RollOverDocumentSeries(
        self, request: pb.RollOverDocumentSeriesRequest, _context: aio.ServicerContext[Any, Any]
    ) -> pb.RollOverDocumentSeriesResponse:
        return await self.services.document_series.roll_over(
            request.organization_id,
            request.from_financial_year_id,
            request.to_financial_year_id,
            current_caller(),
        )


def add_to_server(server: ServiceRegistry, runtime: Runtime) -> None:
    # Abstract to mypy: the standard methods are bound by name in __init__.
    servicer = OrganizationServicer(OrganizationFamily.build(runtime))  # type: ignore[abstract]
    organization_pb2_grpc.add_OrganizationServiceServicer_to_server(servicer, server.as_server())
