"""CommodityService: five generic resources, search, parameter templates and units.

The bulk RPCs (DESIGN.md section 6) answer UNIMPLEMENTED until their issue lands.
"""

from __future__ import annotations

from grpc import aio

from masterdata.server.api.standard_methods import bind, bind_standard_methods
from masterdata.server.api.unimplemented import unimplemented_stream, unimplemented_unary
from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.domain.units import Unit, format_decimal
from masterdata.server.resources.caller import current_caller
from masterdata.server.resources.runtime import Runtime
from masterdata.server.services.commodities import CommodityServices
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc

#: Bulk import and export (DESIGN.md section 6), built by another issue.
BULK = ("ImportCommodities", "UploadCommodities", "ExportCommodities", "GetImportTemplate")


class CommodityServicer(commodity_pb2_grpc.CommodityServiceServicer):
    """Standard methods are generic; the rest translate proto <-> service calls."""

    def __init__(self, services: CommodityServices) -> None:
        self.services = services
        s = services
        for service in (
            s.commodities,
            s.varieties,
            s.quality_parameters,
            s.parameter_templates,
            s.commission_structures,
        ):
            bind_standard_methods(self, pb, service)
        methods = pb.DESCRIPTOR.services_by_name["CommodityService"].methods_by_name
        bind(
            self,
            {
                n: unimplemented_stream if methods[n].server_streaming else unimplemented_unary
                for n in BULK
            },
        )

    async def SearchCommodities(
        self, request: pb.SearchCommoditiesRequest, _context: aio.ServicerContext
    ) -> pb.SearchCommoditiesResponse:
        page = await self.services.search.search(
            request.query, request.page_size, request.page_token, current_caller()
        )
        return pb.SearchCommoditiesResponse(
            commodities=page.items, next_page_token=page.next_page_token
        )

    async def SuggestParameters(
        self, request: pb.SuggestParametersRequest, _context: aio.ServicerContext
    ) -> pb.SuggestParametersResponse:
        found = await self.services.quality_parameters.suggest(
            request.commodity_id, current_caller()
        )
        return pb.SuggestParametersResponse(parameter_templates=found)

    async def ApplyParameterTemplates(
        self, request: pb.ApplyParameterTemplatesRequest, _context: aio.ServicerContext
    ) -> pb.ApplyParameterTemplatesResponse:
        created = await self.services.quality_parameters.apply_templates(
            request.commodity_id, list(request.template_ids), request.request_id, current_caller()
        )
        return pb.ApplyParameterTemplatesResponse(quality_parameters=created)

    async def ListUnits(
        self, request: pb.ListUnitsRequest, _context: aio.ServicerContext
    ) -> pb.ListUnitsResponse:
        units = self.services.units.list_units(_dimension(request.dimension))
        return pb.ListUnitsResponse(units=[_unit(u) for u in units])

    async def ConvertQuantity(
        self, request: pb.ConvertQuantityRequest, _context: aio.ServicerContext
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


def add_to_server(server: aio.Server, runtime: Runtime) -> None:
    servicer = CommodityServicer(CommodityServices.build(runtime))
    commodity_pb2_grpc.add_CommodityServiceServicer_to_server(servicer, server)
