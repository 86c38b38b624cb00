"""OrganizationService: organizations, GST registrations, bank accounts, years, series."""

from __future__ import annotations

from dataclasses import dataclass

from masterdata.server.resources.runtime import Runtime
from masterdata.server.services.organizations.family import FamilyService
from masterdata.server.services.organizations.parties import (
    BankAccountService,
    GstRegistrationService,
    OrganizationService,
)
from masterdata.server.services.organizations.series import DocumentSeriesService
from masterdata.server.services.organizations.specs import (
    BANK_ACCOUNT,
    DOCUMENT_SERIES,
    FINANCIAL_YEAR,
    GST_REGISTRATION,
    ORGANIZATION,
)
from masterdata.server.services.organizations.years import FinancialYearService

__all__ = [
    "BANK_ACCOUNT",
    "DOCUMENT_SERIES",
    "FINANCIAL_YEAR",
    "GST_REGISTRATION",
    "ORGANIZATION",
    "OrganizationServices",
]


@dataclass(frozen=True)
class OrganizationServices:
    """One service object per resource of OrganizationService."""

    organizations: OrganizationService
    gst_registrations: GstRegistrationService
    bank_accounts: BankAccountService
    financial_years: FinancialYearService
    document_series: DocumentSeriesService

    @classmethod
    def build(cls, runtime: Runtime) -> OrganizationServices:
        return cls(
            OrganizationService(runtime, ORGANIZATION),
            GstRegistrationService(runtime, GST_REGISTRATION),
            BankAccountService(runtime, BANK_ACCOUNT),
            FinancialYearService(runtime, FINANCIAL_YEAR),
            DocumentSeriesService(runtime, DOCUMENT_SERIES),
        )

    def all(self) -> tuple[FamilyService, ...]:
        return (
            self.organizations,
            self.gst_registrations,
            self.bank_accounts,
            self.financial_years,
            self.document_series,
        )
