"""The five resources of OrganizationService as specs of the generic path.

Children are declared before their parents because a parent names them in
`children` (the force-delete cascade).
"""

from __future__ import annotations

from masterdata.server.domain import organizations as rules
from masterdata.server.repositories.query import FieldKind, QueryField
from masterdata.server.resources.spec import ChildLink, ParentLink, ResourceSpec
from masterdata.server.storage.models.organization import (
    BankAccountRow,
    DocumentSeriesRow,
    FinancialYearRow,
    GstRegistrationRow,
    OrganizationRow,
)
from masterdata.v1 import organization_pb2 as pb

STRING, BOOLEAN, DATE = FieldKind.STRING, FieldKind.BOOLEAN, FieldKind.DATE
TIMESTAMP, UUID = FieldKind.TIMESTAMP, FieldKind.UUID
TO_ORGANIZATION = ParentLink("organization_id", OrganizationRow)


def _times(model: type) -> dict[str, QueryField]:
    return {
        "create_time": QueryField(model.create_time, TIMESTAMP),  # type: ignore[attr-defined]
        "update_time": QueryField(model.update_time, TIMESTAMP),  # type: ignore[attr-defined]
    }


_S = DocumentSeriesRow
DOCUMENT_SERIES = ResourceSpec(
    name="document_series",
    message=pb.DocumentSeries,
    model=DocumentSeriesRow,
    required=("financial_year_id", "document_type"),
    validate=rules.validate_document_series,
    derive=rules.derive_document_series,
    parent=TO_ORGANIZATION,
    unique_fields={"uq_document_series_type_year_live": "document_type"},
    query_fields={
        "financial_year_id": QueryField(_S.financial_year_id, UUID),
        "document_type": QueryField(_S.document_type, STRING),
        "prefix": QueryField(_S.prefix, STRING),
        "reset_annually": QueryField(_S.reset_annually, BOOLEAN),
        "is_active": QueryField(_S.is_active, BOOLEAN),
        **_times(_S),
    },
)

_Y = FinancialYearRow
FINANCIAL_YEAR = ResourceSpec(
    name="financial_year",
    message=pb.FinancialYear,
    model=FinancialYearRow,
    required=("start_date", "end_date"),
    output_only=frozenset({"is_active"}),
    validate=rules.validate_financial_year,
    parent=TO_ORGANIZATION,
    default_order="start_date",
    unique_fields={"uq_financial_years_active_live": "is_active"},
    # A year's live series block its deletion (DeleteFinancialYear has no force).
    children=(ChildLink(DOCUMENT_SERIES, "financial_year_id"),),
    query_fields={
        "start_date": QueryField(_Y.start_date, DATE),
        "end_date": QueryField(_Y.end_date, DATE),
        "is_active": QueryField(_Y.is_active, BOOLEAN),
        "allow_year_split": QueryField(_Y.allow_year_split, BOOLEAN),
        **_times(_Y),
    },
)

_G = GstRegistrationRow
GST_REGISTRATION = ResourceSpec(
    name="gst_registration",
    message=pb.GstRegistration,
    model=GstRegistrationRow,
    required=("gstin",),
    validate=rules.validate_gst_registration,
    derive=rules.derive_gst_registration,
    parent=TO_ORGANIZATION,
    unique_fields={
        "uq_gst_registrations_gstin_live": "gstin",
        "uq_gst_registrations_primary_live": "is_primary",
    },
    query_fields={
        "gstin": QueryField(_G.gstin, STRING),
        "legal_name": QueryField(_G.legal_name, STRING),
        "state": QueryField(_G.state, STRING),
        "branch_code": QueryField(_G.branch_code, STRING),
        "is_primary": QueryField(_G.is_primary, BOOLEAN),
        "is_active": QueryField(_G.is_active, BOOLEAN),
        **_times(_G),
    },
)

_B = BankAccountRow
BANK_ACCOUNT = ResourceSpec(
    name="bank_account",
    message=pb.BankAccount,
    model=BankAccountRow,
    required=("account_holder", "bank_name", "account_number"),
    validate=rules.validate_bank_account,
    derive=rules.derive_bank_account,
    parent=TO_ORGANIZATION,
    masked={"account_number": rules.mask_account_number},
    unique_fields={
        "uq_bank_accounts_account_number_live": "account_number",
        "uq_bank_accounts_default_live": "is_default",
    },
    # account_number is deliberately not filterable: a filter would reveal it.
    query_fields={
        "account_holder": QueryField(_B.account_holder, STRING),
        "bank_name": QueryField(_B.bank_name, STRING),
        "ifsc": QueryField(_B.ifsc, STRING),
        "branch": QueryField(_B.branch, STRING),
        "is_default": QueryField(_B.is_default, BOOLEAN),
        **_times(_B),
    },
)

_O = OrganizationRow
ORGANIZATION = ResourceSpec(
    name="organization",
    message=pb.Organization,
    model=OrganizationRow,
    required=("name",),
    validate=rules.validate_organization,
    derive=rules.derive_organization,
    unique_fields={"uq_organizations_name_live": "name"},
    # Series first: they reference financial years, which go next.
    children=(
        ChildLink(DOCUMENT_SERIES, "organization_id"),
        ChildLink(FINANCIAL_YEAR, "organization_id"),
        ChildLink(GST_REGISTRATION, "organization_id"),
        ChildLink(BANK_ACCOUNT, "organization_id"),
    ),
    query_fields={
        "name": QueryField(_O.name, STRING),
        "legal_name": QueryField(_O.legal_name, STRING),
        "type": QueryField(
            _O.type,
            FieldKind.ENUM,
            enum_prefix="ORGANIZATION_TYPE_",
            enum_values=frozenset(pb.OrganizationType.keys()),
        ),
        "pan": QueryField(_O.pan, STRING),
        "cin": QueryField(_O.cin, STRING),
        "base_currency": QueryField(_O.base_currency, STRING),
        "is_active": QueryField(_O.is_active, BOOLEAN),
        "einvoice_required": QueryField(_O.einvoice_required, BOOLEAN),
        "fx_enabled": QueryField(_O.fx_enabled, BOOLEAN),
        **_times(_O),
    },
)
