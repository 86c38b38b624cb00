"""ORM models, one module per entity family; importing this registers every table."""

from masterdata.server.storage.models.commodity import (
    CommissionStructureRow,
    CommodityRow,
    ParameterTemplateRow,
    QualityParameterRow,
    VarietyRow,
)
from masterdata.server.storage.models.location import LocationRow
from masterdata.server.storage.models.organization import (
    BankAccountRow,
    DocumentSeriesRow,
    FinancialYearRow,
    GstRegistrationRow,
    OrganizationRow,
)
from masterdata.server.storage.models.trade_terms import (
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
