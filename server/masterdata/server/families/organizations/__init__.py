"""OrganizationService's resources: organizations, GST registrations, accounts, years, series."""

from __future__ import annotations

from dataclasses import dataclass

from masterdata.server.families.organizations.family import FamilyResources
from masterdata.server.families.organizations.parties import (
    BankAccountResources,
    GstRegistrationResources,
    OrganizationResources,
)
from masterdata.server.families.organizations.series import DocumentSeriesResources
from masterdata.server.families.organizations.specs import (
    BANK_ACCOUNT,
    DOCUMENT_SERIES,
    FINANCIAL_YEAR,
    GST_REGISTRATION,
    ORGANIZATION,
)
from masterdata.server.families.organizations.years import FinancialYearResources
from masterdata.server.resources.runtime import Runtime

__all__ = [
    "BANK_ACCOUNT",
    "DOCUMENT_SERIES",
    "FINANCIAL_YEAR",
    "GST_REGISTRATION",
    "ORGANIZATION",
    "OrganizationFamily",
]


@dataclass(frozen=True)
class OrganizationFamily:
    """Everything OrganizationService's servicer calls: one object per resource."""

    organizations: OrganizationResources
    gst_registrations: GstRegistrationResources
    bank_accounts: BankAccountResources
    financial_years: FinancialYearResources
    document_series: DocumentSeriesResources

    @classmethod
    def build(cls, runtime: Runtime) -> OrganizationFamily:
        return cls(
            OrganizationResources(runtime, ORGANIZATION),
            GstRegistrationResources(runtime, GST_REGISTRATION),
            BankAccountResources(runtime, BANK_ACCOUNT),
            FinancialYearResources(runtime, FINANCIAL_YEAR),
            DocumentSeriesResources(runtime, DOCUMENT_SERIES),
        )

    def all(self) -> tuple[FamilyResources, ...]:
        return (
            self.organizations,
            self.gst_registrations,
            self.bank_accounts,
            self.financial_years,
            self.document_series,
        )
