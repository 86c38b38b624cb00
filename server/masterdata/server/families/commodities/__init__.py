"""CommodityService's services: five generic-path resources and the special operations.

The specs are importable from here (`COMMODITY`, `VARIETY`, ...) for the seed loader.
"""

from __future__ import annotations

from dataclasses import dataclass

from masterdata.server.families.commodities.resources import (
    CommissionStructureResources,
    CommodityChildResources,
    CommodityResources,
    ParameterTemplateResources,
)
from masterdata.server.families.commodities.search import CommoditySearch
from masterdata.server.families.commodities.specs import (
    COMMISSION_STRUCTURE,
    COMMODITY,
    PARAMETER_TEMPLATE,
    QUALITY_PARAMETER,
    VARIETY,
)
from masterdata.server.families.commodities.templates import QualityParameterResources
from masterdata.server.families.commodities.units import UnitConversions
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import Resources

__all__ = [
    "COMMISSION_STRUCTURE",
    "COMMODITY",
    "PARAMETER_TEMPLATE",
    "QUALITY_PARAMETER",
    "VARIETY",
    "CommodityFamily",
]


@dataclass(frozen=True)
class CommodityFamily:
    """Everything CommodityService's servicer calls, built once per runtime."""

    commodities: Resources
    varieties: Resources
    quality_parameters: QualityParameterResources
    parameter_templates: Resources
    commission_structures: Resources
    search: CommoditySearch
    units: UnitConversions

    @classmethod
    def build(cls, runtime: Runtime) -> CommodityFamily:
        commodities = CommodityResources(runtime)
        return cls(
            commodities=commodities,
            varieties=CommodityChildResources(runtime, VARIETY),
            quality_parameters=QualityParameterResources(runtime),
            parameter_templates=ParameterTemplateResources(runtime, PARAMETER_TEMPLATE),
            commission_structures=CommissionStructureResources(runtime),
            search=CommoditySearch(commodities),
            units=UnitConversions(runtime),
        )
