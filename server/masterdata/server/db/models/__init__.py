"""ORM models, one module per entity family; importing this registers every table."""

from masterdata.server.db.models.commodity import (
    CommissionStructureRow,
    CommodityRow,
    ParameterTemplateRow,
    QualityParameterRow,
    VarietyRow,
)
from masterdata.server.db.models.location import LocationRow
from masterdata.server.db.models.organization import (
    BankAccountRow,
    DocumentSeriesRow,
    FinancialYearRow,
    GstRegistrationRow,
    OrganizationRow,
)
from masterdata.server.db.models.trade_terms import (
    BargainTypeRow,
    DeliveryTermRow,
    PassingTermRow,
    PaymentTermRow,
    TradeTypeRow,
    WeightmentTermRow,
)

__all__ = [
    "BankAccountRow",
    "BargainTypeRow",
    "CommissionStructureRow",
    "CommodityRow",
    "DeliveryTermRow",
    "DocumentSeriesRow",
    "FinancialYearRow",
    "GstRegistrationRow",
    "LocationRow",
    "OrganizationRow",
    "ParameterTemplateRow",
    "PassingTermRow",
    "PaymentTermRow",
    "QualityParameterRow",
    "TradeTypeRow",
    "VarietyRow",
    "WeightmentTermRow",
]
