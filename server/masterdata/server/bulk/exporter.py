"""ExportCommodities: the live commodities matching a filter as messages, CSV or XLSX.

Rows are streamed from one server-side cursor (`AsyncConnection.stream`), so the
export is one consistent snapshot and memory holds one page at a time. A CSV
export uses the import header and the cell texts `format_cell` writes, which
import back to the same values: an export re-imported with UPSERT matches
every row by id and changes nothing. XLSX holds the same texts: openpyxl's
write-only workbook keeps its rows in a temporary file as they are appended
(on a worker thread) and saves the zip, which it cannot stream, into another
temporary file that is then sent in chunks - memory holds a page and a chunk,
never the file.
"""

from __future__ import annotations

import asyncio
import csv
import io
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from typing import IO, Any, cast

from openpyxl import Workbook
from sqlalchemy import Row, select

from masterdata.server.bulk.columns import COLUMNS, EXPORT_VARIETIES_HEADER
from masterdata.server.bulk.export_cells import CellWriter
from masterdata.server.bulk.ooxml_text import escape
from masterdata.server.bulk.store import TABLE
from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.families.commodities.specs import COMMODITY, VARIETY
from masterdata.server.repositories.query import filter_condition
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.codec import codec_for
from masterdata.server.resources.runtime import Runtime
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.commodity import VarietyRow
from masterdata.v1 import commodity_pb2 as pb

PAGE_ROWS = 1000
#: Commodities per message of a ROWS export (gRPC moves tens of thousands of
#: messages a second, so a message per row would cap the export there).
ROWS_PER_MESSAGE = 500
_VARIETIES = VarietyRow.__table__


def _format(fmt: int) -> int:
    if fmt not in pb.ExportFormat.values():
        raise InvalidArgument(
            f"{fmt} is not an ExportFormat",
            violations=[FieldViolation("format", "not an ExportFormat", "INVALID_ENUM")],
        )
    return fmt or pb.EXPORT_FORMAT_ROWS


def header(include_varieties: bool) -> list[str]:
    names = [c.header for c in COLUMNS]
    return [*names, EXPORT_VARIETIES_HEADER] if include_varieties else names


class BulkExports:
    """ExportCommodities over one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.chunk = min(runtime.settings.export_chunk_bytes, 1 << 20)
        self.cells = CellWriter(in_sql=runtime.db.backend.casts_cells_in_sql)

    def export(
        self, request: pb.ExportCommoditiesRequest, caller: Caller
    ) -> AsyncIterator[pb.ExportCommoditiesResponse]:
        fmt = _format(request.format)
        condition = filter_condition(request.filter, COMMODITY.query_fields)
        varieties = request.include_varieties
        if fmt == pb.EXPORT_FORMAT_ROWS:
            return self._rows(self._pages([TABLE], condition, varieties), caller)
        pages = self._pages(self.cells.columns, condition, varieties)
        if fmt == pb.EXPORT_FORMAT_CSV:
            return self._csv(pages, varieties)
        return self._xlsx(pages, varieties)

    async def _pages(
        self, columns: Sequence[Any], condition: Any, include_varieties: bool
    ) -> AsyncIterator[tuple[Sequence[Row[Any]], dict[Any, list[Any]] | None]]:
        """Pages of live commodities in (category, name, id) order, with their varieties."""
        stmt = select(*columns).where(TABLE.c.delete_time.is_(None))
        if condition is not None:
            stmt = stmt.where(condition)
        stmt = stmt.order_by(TABLE.c.category, TABLE.c.name, TABLE.c.id)
        async with translate_errors(), self.runtime.db.reader.connect() as conn:
            result = await conn.stream(stmt.execution_options(yield_per=PAGE_ROWS))
            async for page in result.partitions(PAGE_ROWS):
                varieties = await self._varieties(page) if include_varieties else None
                yield page, varieties

    async def _varieties(self, page: Sequence[Row[Any]]) -> dict[Any, list[Any]]:
        """The live varieties of a page of commodities, by commodity id, in name order."""
        stmt = (
            select(_VARIETIES)
            .where(_VARIETIES.c.commodity_id.in_([row.id for row in page]))
            .where(_VARIETIES.c.delete_time.is_(None))
            .order_by(_VARIETIES.c.commodity_id, _VARIETIES.c.name, _VARIETIES.c.id)
        )
        found: dict[Any, list[Any]] = defaultdict(list)
        async with translate_errors(), self.runtime.db.autocommit_reader.connect() as conn:
            for variety in await conn.execute(stmt):
                found[variety.commodity_id].append(variety)
        return found

    async def _rows(
        self, pages: Any, caller: Caller
    ) -> AsyncIterator[pb.ExportCommoditiesResponse]:
        """A message per batch of commodities, cut at ROWS_PER_MESSAGE or the chunk size."""
        commodities, varieties_codec = codec_for(COMMODITY), codec_for(VARIETY)
        reveal = caller.sees_sensitive
        batch, size = pb.ExportedCommodities(), 0
        async for page, varieties in pages:
            for row in page:
                item = batch.items.add()
                # The codecs of COMMODITY and VARIETY make Commodity and Variety messages.
                commodity = commodities.to_message(row, reveal=reveal)
                item.commodity.CopyFrom(cast(pb.Commodity, commodity))
                if varieties is not None:
                    item.varieties.extend(
                        cast(pb.Variety, varieties_codec.to_message(v, reveal=reveal))
                        for v in varieties.get(row.id, ())
                    )
                size += item.ByteSize()
                if len(batch.items) >= ROWS_PER_MESSAGE or size >= self.chunk:
                    yield pb.ExportCommoditiesResponse(rows=batch)
                    batch, size = pb.ExportedCommodities(), 0
        if batch.items:
            yield pb.ExportCommoditiesResponse(rows=batch)

    async def _csv(
        self, pages: Any, include_varieties: bool
    ) -> AsyncIterator[pb.ExportCommoditiesResponse]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header(include_varieties))
        pending = bytearray()
        async for page, varieties in pages:
            writer.writerows(self._cells(page, varieties))
            pending += buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            while len(pending) >= self.chunk:
                yield pb.ExportCommoditiesResponse(chunk=bytes(pending[: self.chunk]))
                del pending[: self.chunk]
        pending += buffer.getvalue().encode()
        for start in range(0, len(pending), self.chunk):
            yield pb.ExportCommoditiesResponse(chunk=bytes(pending[start : start + self.chunk]))

    async def _xlsx(
        self, pages: Any, include_varieties: bool
    ) -> AsyncIterator[pb.ExportCommoditiesResponse]:
        book = Workbook(write_only=True)
        sheet = book.create_sheet("Commodities")
        sheet.append(header(include_varieties))
        async for page, varieties in pages:
            await asyncio.to_thread(_append, sheet, self._cells(page, varieties))
        with tempfile.TemporaryFile() as file:
            await asyncio.to_thread(_save, book, file)
            while chunk := await asyncio.to_thread(file.read, self.chunk):
                yield pb.ExportCommoditiesResponse(chunk=chunk)

    def _cells(
        self, page: Sequence[Row[Any]], varieties: dict[Any, list[Any]] | None
    ) -> list[list[Any]]:
        if varieties is None:
            return [self.cells.cells(row, None) for row in page]
        return [self.cells.cells(row, varieties.get(row.id, ())) for row in page]


def _append(sheet: Any, rows: list[list[Any]]) -> None:
    for row in rows:
        sheet.append([_xlsx_cell(cell) for cell in row])


def _xlsx_cell(cell: Any) -> Any:
    """A cell as a worksheet can hold it: empty as no cell, and the control characters
    XML 1.0 forbids (ESC, BEL, ...) as the _xHHHH_ escapes Excel itself writes
    (bulk/ooxml_text.py; the XLSX import reads them back)."""
    if cell == "":
        return None
    return escape(cell) if isinstance(cell, str) else cell


def _save(book: Workbook, file: IO[bytes]) -> None:
    book.save(file)
    file.seek(0)
