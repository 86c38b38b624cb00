"""The six trade-term reference tables contracts are written on."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Index, Integer, Numeric, String, func
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from masterdata.server.storage.base import Base, ResourceMixin
from masterdata.server.storage.models.organization import LIVE, live_unique


class TradeTermMixin(ResourceMixin):
    """Columns and indexes every trade-term family shares.

    name is unique case-insensitively and code when set, both among live rows
    of one table.
    """

    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(50), default="")
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    if TYPE_CHECKING:
        __tablename__: str  # each subclass names its table

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        # Evaluated per subclass, so cls.name is that table's own column.
        table = cls.__tablename__
        return (
            live_unique(f"uq_{table}_name_live", func.lower(cls.name)),
            live_unique(f"uq_{table}_code_live", cls.code, where=f"code <> '' AND {LIVE}"),
            Index(f"ix_{table}_name", "name", "id"),
            Index(f"ix_{table}_create_time", "create_time", "id"),
        )


class TradeTypeRow(TradeTermMixin, Base):
    """Domestic, export, import, high-seas sale, ..."""

    __tablename__ = "trade_types"


class BargainTypeRow(TradeTermMixin, Base):
    """How a deal is struck (direct, through a broker, ...)."""

    __tablename__ = "bargain_types"

    requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)


class PassingTermRow(TradeTermMixin, Base):
    """Where and how goods are accepted on quality."""

    __tablename__ = "passing_terms"

    requires_quality_test: Mapped[bool] = mapped_column(Boolean, default=False)


class WeightmentTermRow(TradeTermMixin, Base):
    """Whose weighment is final."""

    __tablename__ = "weightment_terms"

    weight_deduction_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)


class DeliveryTermRow(TradeTermMixin, Base):
    """An Incoterm or local delivery basis (FOB, CIF, EXW, ex-godown, ...)."""

    __tablename__ = "delivery_terms"

    includes_freight: Mapped[bool] = mapped_column(Boolean, default=False)
    includes_insurance: Mapped[bool] = mapped_column(Boolean, default=False)


class PaymentTermRow(TradeTermMixin, Base):
    """When and how a contract is paid; list fields are JSON arrays of strings."""

    __tablename__ = "payment_terms"

    days: Mapped[int] = mapped_column(Integer, default=0)
    payment_percentage: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)
    currency: Mapped[str] = mapped_column(String(3), default="")
    supports_multi_currency: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_letter_of_credit: Mapped[bool] = mapped_column(Boolean, default=False)
    lc_types_supported: Mapped[list[Any]] = mapped_column(default=list)
    lc_confirmation_required: Mapped[bool] = mapped_column(Boolean, default=False)
    bank_charges_borne_by: Mapped[str] = mapped_column(
        String(40), default="BANK_CHARGE_BEARER_SHARED"
    )
    forex_adjustment_applicable: Mapped[bool] = mapped_column(Boolean, default=False)
    payment_methods_supported: Mapped[list[Any]] = mapped_column(default=list)
    swift_required: Mapped[bool] = mapped_column(Boolean, default=False)
