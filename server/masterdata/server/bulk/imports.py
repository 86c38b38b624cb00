"""Bulk commodity import and export: what the servicer calls.

An ImportCommoditiesRequest is checked whole before anything is written
(size, encoding, header, row count). An upload is checked as it arrives and
read only as fast as batches are written: what it holds at any time is one
message, the records of one CSV slice (sources.CSV_SLICE_BYTES), the batch
being written and at most two prepared ahead (importer.prefetch), plus
grpc's flow-control window - however large the file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar, cast

from masterdata.server.bulk.batches import Convert
from masterdata.server.bulk.candidates import Candidate, FileConverter, RowFailure, convert_message
from masterdata.server.bulk.importer import Importer, Options, Rows, parse_options
from masterdata.server.bulk.sources import (
    FileRows,
    InputRow,
    Limits,
    csv_rows,
    message_rows,
    precheck_csv,
    xlsx_rows,
)
from masterdata.server.bulk.xlsx_input import XlsxRows
from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.resources.caller import Caller, IdempotencyKey
from masterdata.server.resources.idempotent import key_of
from masterdata.server.resources.runtime import Runtime
from masterdata.v1 import commodity_pb2 as pb

T = TypeVar("T")
#: The method an upload's key is scoped to, as the call boundary names methods.
UPLOAD = f"/{pb.DESCRIPTOR.services_by_name['CommodityService'].full_name}/UploadCommodities"
#: CommodityRows carries at most this many commodities (the proto says so).
MAX_ROWS_PER_MESSAGE = 10_000
#: Paired only with message_rows, which yields MessageRows alone.
_CONVERT_MESSAGE = cast(Convert, convert_message)


class _FileConvert:
    """Converts file rows with the header the source found (known after the first rows)."""

    def __init__(self, rows: FileRows) -> None:
        self.rows = rows
        self._converter: FileConverter | None = None

    def __call__(self, row: InputRow) -> Candidate | RowFailure:
        if self._converter is None:
            self._converter = FileConverter(self.rows.require_header())
        return self._converter.convert(row)  # type: ignore[arg-type]


def _ignored(convert: Convert) -> Callable[[], tuple[str, ...]]:
    """What the summary names as ignored columns: a file's unknown header cells."""
    if isinstance(convert, _FileConvert):
        return convert.rows.ignored
    return tuple


def _invalid(field: str, description: str, reason: str) -> InvalidArgument:
    return InvalidArgument(description, violations=[FieldViolation(field, description, reason)])


async def _once(item: T) -> AsyncIterator[T]:
    yield item


def _check_rows_message(rows: pb.CommodityRows, field: str) -> Sequence[pb.Commodity]:
    if len(rows.commodities) > MAX_ROWS_PER_MESSAGE:
        raise _invalid(field, f"at most {MAX_ROWS_PER_MESSAGE} commodities", "TOO_MANY_ROWS")
    return rows.commodities


class BulkImports:
    """ImportCommodities and UploadCommodities over one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.limits = Limits(
            settings.max_import_bytes, settings.max_import_rows, settings.xlsx_expanded_limit
        )

    def import_request(
        self, request: pb.ImportCommoditiesRequest, caller: Caller
    ) -> AsyncIterator[pb.ImportCommoditiesResponse]:
        """Check the request whole, then stream the import's responses."""
        options = self._options(request, caller.idempotency)
        source = request.WhichOneof("source")
        rows: Rows
        convert: Convert
        if source == "csv_data":
            rows, convert = self._csv(request.csv_data, request.strict)
        elif source == "xlsx_data":
            rows, convert = self._xlsx(request.xlsx_data, request.strict)
        elif source == "rows":
            commodities = _check_rows_message(request.rows, "rows.commodities")
            self.limits.check_rows(len(commodities), source)
            rows, convert = message_rows(_once(commodities), self.limits, source), _CONVERT_MESSAGE
        else:
            raise _invalid("source", "one of csv_data, xlsx_data or rows is required", "REQUIRED")
        return Importer(self.runtime, caller, options).run(rows, convert, _ignored(convert))

    def _options(
        self,
        request: pb.ImportCommoditiesRequest | pb.ImportOptions,
        key: IdempotencyKey | None,
    ) -> Options:
        return parse_options(
            request.mode,
            request.validate_only,
            request.atomic,
            request.batch_size,
            key,
            self.runtime.settings,
        )

    def _csv(self, data: bytes, strict: bool) -> tuple[Rows, Convert]:
        precheck_csv(data, self.limits, "csv_data", strict=strict)
        rows = FileRows("csv_data", self.limits, strict=strict)
        return csv_rows(_once(data), rows), _FileConvert(rows)

    def _xlsx(self, data: bytes, strict: bool) -> tuple[Rows, Convert]:
        self.limits.check_bytes(len(data), "xlsx_data")
        rows = FileRows("xlsx_data", self.limits, strict=strict)
        return xlsx_rows(XlsxRows(data, "xlsx_data"), rows), _FileConvert(rows)

    async def upload(
        self, requests: AsyncIterator[pb.UploadCommoditiesRequest], caller: Caller
    ) -> AsyncIterator[pb.UploadCommoditiesResponse]:
        """The options, then rows or CSV chunks, read as the import consumes them."""
        first = await anext(requests, None)
        if first is None or first.WhichOneof("kind") != "options":
            raise _invalid("options", "the first message must carry the options", "REQUIRED")
        second = await anext(requests, None)
        # The key of an upload: its options and its first data message (the header and
        # first rows), known before anything is written; the whole body is not.
        data = (second,) if second is not None else ()
        options = self._options(first.options, key_of(UPLOAD, first.options, *data))
        kind = second.WhichOneof("kind") if second is not None else "rows"
        rows: Rows
        convert: Convert
        if kind == "csv_chunk":
            file_rows = FileRows("csv_chunk", self.limits, strict=first.options.strict)
            rows, convert = csv_rows(_chunks(second, requests), file_rows), _FileConvert(file_rows)
        elif kind == "rows":
            batches = _row_batches(second, requests)
            rows, convert = message_rows(batches, self.limits, "rows"), _CONVERT_MESSAGE
        else:
            raise _invalid("options", "only the first message may carry options", "UNEXPECTED")
        importer = Importer(self.runtime, caller, options)
        async for item in importer.run(rows, convert, _ignored(convert)):
            kind_of = item.WhichOneof("kind")
            assert kind_of is not None  # every response carries one
            yield pb.UploadCommoditiesResponse(**{kind_of: getattr(item, kind_of)})


async def _chunks(
    first: pb.UploadCommoditiesRequest | None, rest: AsyncIterator[pb.UploadCommoditiesRequest]
) -> AsyncIterator[bytes]:
    if first is not None:
        yield first.csv_chunk
    async for request in rest:
        if request.WhichOneof("kind") != "csv_chunk":
            raise _invalid("csv_chunk", "an upload of CSV chunks carries only csv_chunk", "MIXED")
        yield request.csv_chunk


async def _row_batches(
    first: pb.UploadCommoditiesRequest | None, rest: AsyncIterator[pb.UploadCommoditiesRequest]
) -> AsyncIterator[Sequence[pb.Commodity]]:
    if first is not None:
        yield _check_rows_message(first.rows, "rows.commodities")
    async for request in rest:
        if request.WhichOneof("kind") != "rows":
            raise _invalid("rows", "an upload of rows carries only rows", "MIXED")
        yield _check_rows_message(request.rows, "rows.commodities")
