"""CommodityService's services: five generic-path resources and the special operations.

The specs are importable from here (`COMMODITY`, `VARIETY`, ...) for the seed loader.
"""

from __future__ import annotations

from dataclasses import dataclass

from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.service import ResourceService
from masterdata.server.services.commodities.resources import (
    CommissionStructureResources,
    CommodityChildResources,
    CommodityResources,
    ParameterTemplateResources,
)
from masterdata.server.services.commodities.search import CommoditySearch
from masterdata.server.services.commodities.specs import (
    COMMISSION_STRUCTURE,
    COMMODITY,
    PARAMETER_TEMPLATE,
    QUALITY_PARAMETER,
    VARIETY,
)
from masterdata.server.services.commodities.templates import QualityParameterResources
from masterdata.server.services.commodities.units import UnitConversions

__all__ = [
    "COMMISSION_STRUCTURE",
    "COMMODITY",
    "PARAMETER_TEMPLATE",
    "QUALITY_PARAMETER",
    "VARIETY",
    "CommodityServices",
]


@dataclass(frozen=True)
class CommodityServices:
    """Everything CommodityService's servicer calls, built once per runtime."""

    commodities: ResourceService
    varieties: ResourceService
    quality_parameters: QualityParameterResources
    parameter_templates: ResourceService
    commission_structures: ResourceService
    search: CommoditySearch
    units: UnitConversions

    @classmethod
    def build(cls, runtime: Runtime) -> CommodityServices:
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
