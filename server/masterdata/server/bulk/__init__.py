"""Bulk commodity import and export.

`BulkCommodities` is what CommodityService's servicer calls: ImportCommodities,
UploadCommodities, ExportCommodities and GetImportTemplate.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from masterdata.server.bulk.exporter import BulkExports
from masterdata.server.bulk.imports import BulkImports
from masterdata.server.bulk.template import template
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.runtime import Runtime
from masterdata.v1 import commodity_pb2 as pb

__all__ = ["BulkCommodities"]


@dataclass(frozen=True)
class BulkCommodities:
    """The four bulk RPCs as service calls."""

    imports: BulkImports
    exports: BulkExports

    @classmethod
    def build(cls, runtime: Runtime) -> BulkCommodities:
        return cls(BulkImports(runtime), BulkExports(runtime))

    def import_commodities(
        self, request: pb.ImportCommoditiesRequest, caller: Caller
    ) -> AsyncIterator[pb.ImportCommoditiesResponse]:
        return self.imports.import_request(request, caller)

    def upload_commodities(
        self, requests: AsyncIterator[pb.UploadCommoditiesRequest], caller: Caller
    ) -> AsyncIterator[pb.UploadCommoditiesResponse]:
        return self.imports.upload(requests, caller)

    def export_commodities(
        self, request: pb.ExportCommoditiesRequest, caller: Caller
    ) -> AsyncIterator[pb.ExportCommoditiesResponse]:
        return self.exports.export(request, caller)

    def import_template(self, request: pb.GetImportTemplateRequest) -> pb.GetImportTemplateResponse:
        return template(request.format)
