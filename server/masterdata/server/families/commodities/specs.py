"""The five resources of CommodityService as generic-path specs.

Children are declared before Commodity, whose `children` makes DeleteCommodity
refuse while they are live and cascade them with `force`.
"""

from __future__ import annotations

from typing import Any

from masterdata.server.domain.commodities import (
    derive_commission,
    derive_commodity,
    derive_parameter,
    validate_commission,
    validate_commodity,
    validate_parameter,
)
from masterdata.server.repositories.query import FieldKind, QueryField
from masterdata.server.resources.spec import ChildLink, ParentLink, ResourceSpec
from masterdata.server.storage.models.commodity import (
    CommissionStructureRow,
    CommodityRow,
    ParameterTemplateRow,
    QualityParameterRow,
    VarietyRow,
)
from masterdata.v1 import commodity_pb2 as pb

S, B, INT, T = FieldKind.STRING, FieldKind.BOOLEAN, FieldKind.INTEGER, FieldKind.TIMESTAMP
_COMMODITY_PARENT = ParentLink("commodity_id", CommodityRow)


def _enum(column: object, prefix: str, values: list[str]) -> QueryField:
    return QueryField(column, FieldKind.ENUM, enum_prefix=prefix, enum_values=frozenset(values))


def _times(model: type[Any]) -> dict[str, QueryField]:
    return {
        "create_time": QueryField(model.create_time, T),
        "update_time": QueryField(model.update_time, T),
    }


_V = VarietyRow
VARIETY = ResourceSpec(
    name="variety",
    message=pb.Variety,
    model=VarietyRow,
    parent=_COMMODITY_PARENT,
    required=("name",),
    unique_fields={"uq_varieties_name_live": "name", "uq_varieties_code_live": "code"},
    query_fields={
        "name": QueryField(_V.name, S),
        "code": QueryField(_V.code, S),
        "is_standard": QueryField(_V.is_standard, B),
        "is_active": QueryField(_V.is_active, B),
        **_times(_V),
    },
)


def _parameter_fields(model: type[Any]) -> dict[str, QueryField]:
    return {
        "parameter_name": QueryField(model.parameter_name, S),
        "parameter_type": _enum(model.parameter_type, "PARAMETER_TYPE_", pb.ParameterType.keys()),
        "unit": QueryField(model.unit, S),
        "is_mandatory": QueryField(model.is_mandatory, B),
        "display_order": QueryField(model.display_order, INT),
        **_times(model),
    }


QUALITY_PARAMETER = ResourceSpec(
    name="quality_parameter",
    message=pb.QualityParameter,
    model=QualityParameterRow,
    parent=_COMMODITY_PARENT,
    required=("parameter_name",),
    validate=validate_parameter,
    derive=derive_parameter,
    unique_fields={"uq_quality_parameters_name_live": "parameter_name"},
    query_fields=_parameter_fields(QualityParameterRow),
)

_P = ParameterTemplateRow
PARAMETER_TEMPLATE = ResourceSpec(
    name="parameter_template",
    message=pb.ParameterTemplate,
    model=ParameterTemplateRow,
    required=("category", "parameter_name"),
    output_only=frozenset({"usage_count"}),
    validate=validate_parameter,
    derive=derive_parameter,
    unique_fields={"uq_parameter_templates_name_live": "parameter_name"},
    query_fields={
        **_parameter_fields(_P),
        "category": QueryField(_P.category, S),
        "source": QueryField(_P.source, S),
        "usage_count": QueryField(_P.usage_count, INT),
    },
)

_S = CommissionStructureRow
COMMISSION_STRUCTURE = ResourceSpec(
    name="commission_structure",
    message=pb.CommissionStructure,
    model=CommissionStructureRow,
    parent=_COMMODITY_PARENT,
    required=("name",),
    validate=validate_commission,
    derive=derive_commission,
    query_fields={
        "name": QueryField(_S.name, S),
        "trade_type_id": QueryField(_S.trade_type_id, FieldKind.UUID),
        "commission_type": _enum(_S.commission_type, "COMMISSION_TYPE_", pb.CommissionType.keys()),
        "applies_to": _enum(_S.applies_to, "APPLIES_TO_", pb.AppliesTo.keys()),
        "currency": QueryField(_S.currency, S),
        "is_active": QueryField(_S.is_active, B),
        **_times(_S),
    },
)

_C = CommodityRow
COMMODITY = ResourceSpec(
    name="commodity",
    message=pb.Commodity,
    model=CommodityRow,
    required=("name", "category"),
    validate=validate_commodity,
    derive=derive_commodity,
    unique_fields={"uq_commodities_name_category_live": "name"},
    children=(
        ChildLink(VARIETY, "commodity_id"),
        ChildLink(QUALITY_PARAMETER, "commodity_id"),
        ChildLink(COMMISSION_STRUCTURE, "commodity_id"),
    ),
    undelete_restores_children=True,
    query_fields={
        "name": QueryField(_C.name, S),
        "category": QueryField(_C.category, S),
        "hsn_code": QueryField(_C.hsn_code, S),
        "hs_code_6digit": QueryField(_C.hs_code_6digit, S),
        "gst_rate": QueryField(_C.gst_rate, FieldKind.DECIMAL),
        "base_unit": QueryField(_C.base_unit, S),
        "trade_unit": QueryField(_C.trade_unit, S),
        "default_currency": QueryField(_C.default_currency, S),
        "price_volatility": _enum(
            _C.price_volatility, "PRICE_VOLATILITY_", pb.PriceVolatility.keys()
        ),
        "seasonal_commodity": QueryField(_C.seasonal_commodity, B),
        "is_active": QueryField(_C.is_active, B),
        **_times(_C),
    },
)
