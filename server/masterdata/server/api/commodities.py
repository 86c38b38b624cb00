"""CommodityService: five generic resources, search, parameter templates, units and bulk.

The bulk RPCs stream: each handler passes the request (or
the request stream) to the bulk package and yields what it yields.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from masterdata.server.api.registration import ServiceRegistry
from masterdata.server.api.standard_methods import StandardMethods, bind_standard_methods
from masterdata.server.bulk import BulkCommodities
from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.domain.units import Unit, format_decimal
from masterdata.server.families.commodities import CommodityFamily
from masterdata.server.resources.caller import current_caller
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.wire import PageFields
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

#: Where a search page's items and token go in its reply.
_SEARCH_PAGE = PageFields.of(pb.SearchCommoditiesResponse)
#: The standard methods of CommodityService, one row per resource (api/standard_methods.py).
COMMODITY_METHODS = (
    StandardMethods(
        "commodity",
        create="CreateCommodity",
        get="GetCommodity",
        list="ListCommodities",
        update="UpdateCommodity",
        delete="DeleteCommodity",
        undelete="UndeleteCommodity",
        batch_get="BatchGetCommodities",
    ),
    StandardMethods(
        "variety",
        create="CreateVariety",
        get="GetVariety",
        list="ListVarieties",
        update="UpdateVariety",
        delete="DeleteVariety",
        undelete="UndeleteVariety",
        parent_field="commodity_id",
    ),
    StandardMethods(
        "quality_parameter",
        create="CreateQualityParameter",
        get="GetQualityParameter",
        list="ListQualityParameters",
        update="UpdateQualityParameter",
        delete="DeleteQualityParameter",
        undelete="UndeleteQualityParameter",
        parent_field="commodity_id",
    ),
    StandardMethods(
        "parameter_template",
        create="CreateParameterTemplate",
        get="GetParameterTemplate",
        list="ListParameterTemplates",
        update="UpdateParameterTemplate",
        delete="DeleteParameterTemplate",
        undelete="UndeleteParameterTemplate",
    ),
    StandardMethods(
        "commission_structure",
        create="CreateCommissionStructure",
        get="GetCommissionStructure",
        list="ListCommissionStructures",
        update="UpdateCommissionStructure",
        delete="DeleteCommissionStructure",
        undelete="UndeleteCommissionStructure",
        parent_field="commodity_id",
    ),
)


class CommodityServicer(commodity_pb2_grpc.CommodityServiceServicer):
    """Standard methods are generic; the rest translate proto <-> service calls."""

    def __init__(self, services: CommodityFamily, bulk: BulkCommodities) -> None:
        self.services = services
        self.bulk = bulk
        s = services
        resources = (
            s.commodities,
            s.varieties,
            s.quality_parameters,
            s.parameter_templates,
            s.commission_structures,
        )
        bind_standard_methods(self, pb, resources, COMMODITY_METHODS)

    async def SearchCommodities(
        self, request: pb.SearchCommoditiesRequest, _context: aio.ServicerContext[Any, Any]
    ) -> Any:
        page = await self.services.search.search(
            request.query, request.page_size, request.page_token, current_caller()
        )
        return page.reply(_SEARCH_PAGE)  # serialized already (resources/wire.py)

    async def SuggestParameters(
        self, request: pb.SuggestParametersRequest, _context: aio.ServicerContext[Any, Any]
    ) -> pb.SuggestParametersResponse:
        found = await self.services.quality_parameters.suggest(
            request.commodity_id, current_caller()
        )
        return pb.SuggestParametersResponse(parameter_templates=found)

    async def ApplyParameterTemplates(
        self, request: pb.ApplyParameterTemplatesRequest, _context: aio.ServicerContext[Any, Any]
    ) -> pb.ApplyParameterTemplatesResponse:
        created = await self.services.quality_parameters.apply_templates(
            request.commodity_id, list(request.template_ids), current_caller()
        )
        return pb.ApplyParameterTemplatesResponse(quality_parameters=created)

    async def ListUnits(
        self, request: pb.ListUnitsRequest, _context: aio.ServicerContext[Any, Any]
    ) -> pb.ListUnitsResponse:
        units = self.services.units.list_units(_dimension(request.dimension))
        return pb.ListUnitsResponse(units=[_unit(u) for u in units])

    async def ConvertQuantity(
        self, request: pb.ConvertQuantityRequest, _context: aio.ServicerContext[Any, Any]
    ) -> pb.ConvertQuantityResponse:
        result = await self.services.units.convert(
            request.quantity, request.from_unit, request.to_unit, request.commodity_id
        )
        return pb.ConvertQuantityResponse(
            quantity=format_decimal(result.quantity),
            unit=result.unit,
            factor=format_decimal(result.factor),
            exact=result.exact,
        )

    async def ImportCommodities(
        self, request: pb.ImportCommoditiesRequest, _context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ImportCommoditiesResponse]:
        async for item in self.bulk.import_commodities(request, current_caller()):
            yield item

    async def UploadCommodities(
        self,
        requests: AsyncIterator[pb.UploadCommoditiesRequest],
        _context: aio.ServicerContext[Any, Any],
    ) -> AsyncIterator[pb.UploadCommoditiesResponse]:
        async for item in self.bulk.upload_commodities(requests, current_caller()):
            yield item

    async def ExportCommodities(
        self, request: pb.ExportCommoditiesRequest, _context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[pb.ExportCommoditiesResponse]:
        async for item in self.bulk.export_commodities(request, current_caller()):
            yield item

    async def GetImportTemplate(
        self, request: pb.GetImportTemplateRequest, _context: aio.ServicerContext[Any, Any]
    ) -> pb.GetImportTemplateResponse:
        return self.bulk.import_template(request)


def _dimension(number: int) -> str:
    """The domain's dimension name ('' for all) of a UnitDimension value."""
    if number not in pb.UnitDimension.values():
        raise InvalidArgument(
            f"unknown dimension {number}",
            violations=[FieldViolation("dimension", "not a UnitDimension", "INVALID_ENUM")],
        )
    name = pb.UnitDimension.Name(number).removeprefix("UNIT_DIMENSION_")  # type: ignore[arg-type]
    return "" if name == "UNSPECIFIED" else name


def _unit(unit: Unit) -> pb.Unit:
    return pb.Unit(
        code=unit.code,
        aliases=unit.aliases,
        dimension=pb.UnitDimension.Value(f"UNIT_DIMENSION_{unit.dimension}"),
        base_unit=unit.base_unit,
        factor=format_decimal(unit.factor),
        is_packaging=unit.is_packaging,
        description=unit.description,
    )


def add_to_server(server: ServiceRegistry, runtime: Runtime) -> None:
    # Abstract to mypy: the standard methods are bound by name in __init__.
    servicer = CommodityServicer(  # type: ignore[abstract]
        CommodityFamily.build(runtime), BulkCommodities.build(runtime)
    )
    commodity_pb2_grpc.add_CommodityServiceServicer_to_server(servicer, server.as_server())
