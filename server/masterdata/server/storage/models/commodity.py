"""Commodities and their varieties, quality parameters, templates and commission structures."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnClause,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Uuid,
    func,
    literal_column,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from masterdata.server.storage.base import Base, ResourceMixin
from masterdata.server.storage.models.organization import LIVE, live_unique


class CommodityRow(ResourceMixin, Base):
    """A traded good; lists of strings and the seed's free-form maps are JSON columns."""

    __tablename__ = "commodities"

    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    hsn_code: Mapped[str] = mapped_column(String(8), default="")
    hs_code_6digit: Mapped[str] = mapped_column(String(6), default="")
    gst_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)
    description: Mapped[str] = mapped_column(String(2000), default="")
    base_unit: Mapped[str] = mapped_column(String(20), default="KG")
    trade_unit: Mapped[str] = mapped_column(String(20), default="")
    rate_unit: Mapped[str] = mapped_column(String(20), default="")
    standard_weight_per_unit: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    default_currency: Mapped[str] = mapped_column(String(3), default="INR")
    supported_currencies: Mapped[list[Any]] = mapped_column(default=list)
    international_pricing_unit: Mapped[str] = mapped_column(String(20), default="")
    quality_standards: Mapped[list[Any]] = mapped_column(default=list)
    major_producing_countries: Mapped[list[Any]] = mapped_column(default=list)
    major_consuming_countries: Mapped[list[Any]] = mapped_column(default=list)
    trading_hubs: Mapped[list[Any]] = mapped_column(default=list)
    traded_on_exchanges: Mapped[list[Any]] = mapped_column(default=list)
    price_volatility: Mapped[str] = mapped_column(
        String(40), default="PRICE_VOLATILITY_UNSPECIFIED"
    )
    phytosanitary_required: Mapped[bool] = mapped_column(Boolean, default=False)
    fumigation_required: Mapped[bool] = mapped_column(Boolean, default=False)
    seasonal_commodity: Mapped[bool] = mapped_column(Boolean, default=False)
    shelf_life_days: Mapped[int | None] = mapped_column(Integer, default=None)
    delivery_tolerance_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)
    weight_tolerance_pct: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    country_tax_codes: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    international_grades: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    certification_required: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    contract_specifications: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    export_regulations: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    import_regulations: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    harvest_season: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    storage_conditions: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    standard_lot_size: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    min_order_quantity: Mapped[dict[str, Any] | None] = mapped_column(default=None)

    __table_args__ = (
        # The import's UPSERT matches rows by this key too.
        live_unique("uq_commodities_name_category_live", func.lower(name), category),
        Index("ix_commodities_name", "name", "id"),
        Index("ix_commodities_create_time", "create_time", "id"),
        Index("ix_commodities_category", "category", "name", "id"),
        Index("ix_commodities_hsn_code", "hsn_code"),
    )


#: Everything SearchCommodities matches, as one lower-case text. On PostgreSQL a
#: trigram index of it finds the candidates of `'%text%'` (a match in any of the
#: columns is a match here), instead of a scan of every live row; the search still
#: applies its own per-column conditions. Literal separators, so that the query's
#: expression is the index's.
_SPACE: ColumnClause[str] = literal_column("' '")
SEARCH_TEXT = func.lower(
    CommodityRow.name
    + _SPACE
    + CommodityRow.category
    + _SPACE
    + CommodityRow.description
    + _SPACE
    + CommodityRow.hsn_code
)
Index(
    "ix_commodities_search_trgm",
    SEARCH_TEXT.label("search_text"),
    postgresql_using="gin",
    postgresql_ops={"search_text": "gin_trgm_ops"},
    postgresql_with={"gin_pending_list_limit": 256},  # see migration 0002
    postgresql_where=CommodityRow.delete_time.is_(None),
).ddl_if(dialect="postgresql")


class VarietyRow(ResourceMixin, Base):
    """A variety of a commodity, such as Shankar-6 of cotton."""

    __tablename__ = "varieties"

    commodity_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("commodities.id"))
    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(50), default="")
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_standard: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        live_unique("uq_varieties_name_live", commodity_id, func.lower(name)),
        live_unique("uq_varieties_code_live", commodity_id, code, where=f"code <> '' AND {LIVE}"),
        # Leading commodity_id also serves the foreign key and List's parent filter.
        Index("ix_varieties_commodity_id", "commodity_id", "create_time", "id"),
        Index("ix_varieties_name", "commodity_id", "name", "id"),
    )


class ParameterColumns:
    """Columns a quality parameter shares with the template it can be created from."""

    parameter_name: Mapped[str] = mapped_column(String(100))
    parameter_type: Mapped[str] = mapped_column(String(40), default="PARAMETER_TYPE_NUMERIC")
    unit: Mapped[str] = mapped_column(String(50), default="")
    min_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    max_value: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    # Text, not NUMERIC: a TEXT parameter's default is free text.
    default_value: Mapped[str] = mapped_column(String(200), default="")
    is_mandatory: Mapped[bool] = mapped_column(Boolean, default=False)
    display_order: Mapped[int] = mapped_column(Integer, default=0)


class QualityParameterRow(ParameterColumns, ResourceMixin, Base):
    """A quality attribute contracts of one commodity specify."""

    __tablename__ = "quality_parameters"

    commodity_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("commodities.id"))

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        # A directive, because parameter_name is copied from the mixin per table.
        return (
            live_unique(
                "uq_quality_parameters_name_live",
                cls.commodity_id,
                func.lower(cls.parameter_name),
            ),
            Index("ix_quality_parameters_commodity_id", "commodity_id", "create_time", "id"),
            Index("ix_quality_parameters_name", "commodity_id", "parameter_name", "id"),
        )


class ParameterTemplateRow(ParameterColumns, ResourceMixin, Base):
    """A category-level parameter; usage_count ranks SuggestParameters."""

    __tablename__ = "parameter_templates"

    category: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(1000), default="")
    source: Mapped[str] = mapped_column(String(100), default="")
    usage_count: Mapped[int] = mapped_column(BigInteger, default=0)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:
        return (
            live_unique(
                "uq_parameter_templates_name_live",
                cls.category,
                func.lower(cls.parameter_name),
            ),
            Index("ix_parameter_templates_category", "category", "parameter_name", "id"),
            Index("ix_parameter_templates_usage_count", "category", "usage_count", "id"),
            Index("ix_parameter_templates_create_time", "create_time", "id"),
        )


class CommissionStructureRow(ResourceMixin, Base):
    """How commission on a commodity's trades is computed; tiers are JSON [{min_quantity, rate}]."""

    __tablename__ = "commission_structures"

    commodity_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("commodities.id"))
    # NULL for every trade type (the proto's empty string).
    trade_type_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("trade_types.id"), index=True, default=None
    )
    name: Mapped[str] = mapped_column(String(200))
    commission_type: Mapped[str] = mapped_column(String(40), default="COMMISSION_TYPE_PERCENTAGE")
    rate: Mapped[Decimal | None] = mapped_column(Numeric(18, 4), default=None)
    min_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 4), default=None)
    max_amount: Mapped[Decimal | None] = mapped_column(Numeric(18, 4), default=None)
    applies_to: Mapped[str] = mapped_column(String(40), default="APPLIES_TO_BOTH")
    currency: Mapped[str] = mapped_column(String(3), default="")
    rate_per_country: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    forex_adjustment: Mapped[bool] = mapped_column(Boolean, default=False)
    apply_forex_on_cross_border: Mapped[bool] = mapped_column(Boolean, default=False)
    tiers: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(String(1000), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        Index("ix_commission_structures_commodity_id", "commodity_id", "create_time", "id"),
        Index("ix_commission_structures_name", "commodity_id", "name", "id"),
    )
