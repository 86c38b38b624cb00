"""Organizations and their GST registrations, bank accounts, financial years and series."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from masterdata.server.storage.base import Base, ResourceMixin

#: Predicate of a live (not soft-deleted) row; uniqueness applies among live rows only.
LIVE = "delete_time IS NULL"


def live_unique(name: str, *columns: Any, where: str = LIVE) -> Index:
    """A unique index among live (not soft-deleted) rows, on SQLite and PostgreSQL."""
    return Index(
        name,
        *columns,
        unique=True,
        sqlite_where=text(where),
        postgresql_where=text(where),
    )


class OrganizationRow(ResourceMixin, Base):
    """A legal entity; business, branding, tax and automation settings are flat columns."""

    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(200))
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    type: Mapped[str] = mapped_column(String(40), default="ORGANIZATION_TYPE_UNSPECIFIED")
    cin: Mapped[str] = mapped_column(String(21), default="")
    pan: Mapped[str] = mapped_column(String(10), default="")
    base_currency: Mapped[str] = mapped_column(String(3), default="INR")
    address: Mapped[str] = mapped_column(String(500), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    threshold_limit: Mapped[Decimal | None] = mapped_column(Numeric(18, 4), default=None)
    einvoice_required: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_block_if_einvoice_required: Mapped[bool] = mapped_column(Boolean, default=False)
    fx_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    logo_url: Mapped[str] = mapped_column(String(1000), default="")
    theme_color: Mapped[str] = mapped_column(String(20), default="")
    invoice_footer: Mapped[str] = mapped_column(String(1000), default="")
    digital_signature_url: Mapped[str] = mapped_column(String(1000), default="")
    # Four decimals: statutory TDS/TCS rates such as 0.075 % exist.
    tds_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4), default=None)
    tcs_rate: Mapped[Decimal | None] = mapped_column(Numeric(7, 4), default=None)
    audit_firm_name: Mapped[str] = mapped_column(String(200), default="")
    audit_firm_email: Mapped[str] = mapped_column(String(254), default="")
    audit_firm_phone: Mapped[str] = mapped_column(String(20), default="")
    gst_audit_required: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_invoice: Mapped[bool] = mapped_column(Boolean, default=False)
    auto_contract_number: Mapped[bool] = mapped_column(Boolean, default=False)
    extra_config: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    __table_args__ = (
        live_unique("uq_organizations_name_live", func.lower(name)),
        Index("ix_organizations_name", "name", "id"),
        Index("ix_organizations_create_time", "create_time", "id"),
    )


class GstRegistrationRow(ResourceMixin, Base):
    """One GSTIN of an organization; at most one primary per organization."""

    __tablename__ = "gst_registrations"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id"))
    gstin: Mapped[str] = mapped_column(String(15))
    legal_name: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    state: Mapped[str] = mapped_column(String(100), default="")
    branch_code: Mapped[str] = mapped_column(String(50), default="")
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        live_unique("uq_gst_registrations_gstin_live", gstin),
        live_unique(
            "uq_gst_registrations_primary_live",
            organization_id,
            where=f"is_primary = true AND {LIVE}",
        ),
        # Leading organization_id also serves the foreign key and List's parent filter.
        Index("ix_gst_registrations_organization_id", "organization_id", "create_time", "id"),
        Index("ix_gst_registrations_gstin", "organization_id", "gstin", "id"),
    )


class BankAccountRow(ResourceMixin, Base):
    """A bank account of an organization; at most one default per organization."""

    __tablename__ = "bank_accounts"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id"))
    account_holder: Mapped[str] = mapped_column(String(200))
    bank_name: Mapped[str] = mapped_column(String(200))
    account_number: Mapped[str] = mapped_column(String(34))
    ifsc: Mapped[str] = mapped_column(String(11), default="")
    branch: Mapped[str] = mapped_column(String(200), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        live_unique("uq_bank_accounts_account_number_live", organization_id, account_number),
        live_unique(
            "uq_bank_accounts_default_live",
            organization_id,
            where=f"is_default = true AND {LIVE}",
        ),
        Index("ix_bank_accounts_organization_id", "organization_id", "create_time", "id"),
        Index("ix_bank_accounts_bank_name", "organization_id", "bank_name", "id"),
    )


class FinancialYearRow(ResourceMixin, Base):
    """An accounting year; overlap is checked by the service, one active year by index."""

    __tablename__ = "financial_years"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    # Set only by ActivateFinancialYear, so new years start inactive.
    is_active: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_year_split: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        live_unique(
            "uq_financial_years_active_live",
            organization_id,
            where=f"is_active = true AND {LIVE}",
        ),
        Index("ix_financial_years_organization_id", "organization_id", "start_date", "id"),
        Index("ix_financial_years_create_time", "organization_id", "create_time", "id"),
    )


class DocumentSeriesRow(ResourceMixin, Base):
    """Numbering of one document type in one financial year.

    next_number is advanced by NextDocumentNumber under a row lock, which keeps
    numbers gap-free across replicas.
    """

    __tablename__ = "document_series"

    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("organizations.id"))
    financial_year_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("financial_years.id"), index=True
    )
    document_type: Mapped[str] = mapped_column(String(50))
    prefix: Mapped[str] = mapped_column(String(50), default="")
    suffix: Mapped[str] = mapped_column(String(50), default="")
    padding: Mapped[int] = mapped_column(Integer, default=6)
    next_number: Mapped[int] = mapped_column(BigInteger, default=1)
    reset_annually: Mapped[bool] = mapped_column(Boolean, default=True)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    extra_config: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    __table_args__ = (
        live_unique(
            "uq_document_series_type_year_live",
            organization_id,
            document_type,
            financial_year_id,
        ),
        Index("ix_document_series_organization_id", "organization_id", "create_time", "id"),
        Index("ix_document_series_document_type", "organization_id", "document_type", "id"),
    )
