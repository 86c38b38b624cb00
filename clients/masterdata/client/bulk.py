"""Commodity import and export, the parts both clients share (no I/O on grpc here).

Import: a CSV file (path, bytes or binary file) is cut into `UploadCommodities`
chunks, so its size is bounded by nothing but the server's row limit; Commodity
messages go in `CommodityRows` batches; an XLSX file (not chunkable) goes whole
through `ImportCommodities`. Responses are folded by `ImportCollector` into an
`ImportResult`, calling `on_progress` after every server batch.

Export: chunks are appended to the destination; rows are counted on the fly
(quote-aware, so a cell with a line break stays one row) for CSV, and from the
finished workbook for XLSX.
"""

from __future__ import annotations

import importlib.util
import io
import os
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, cast

from masterdata.v1 import commodity_pb2 as pb

CHUNK_BYTES = 256 * 1024
ROWS_PER_MESSAGE = 1000

#: A file (path, content or open binary file) or Commodity messages.
ImportSource = str | os.PathLike[str] | bytes | IO[bytes] | Iterable[pb.Commodity]
Destination = str | os.PathLike[str] | IO[bytes]
ExportFormatName = Literal["csv", "xlsx"]
EXPORT_FORMATS: dict[str, pb.ExportFormat.ValueType] = {
    "csv": pb.EXPORT_FORMAT_CSV,
    "xlsx": pb.EXPORT_FORMAT_XLSX,
}


@dataclass(frozen=True)
class ImportProgress:
    """Counts after a server batch, and how much of the input has been sent."""

    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    varieties_created: int = 0
    varieties_updated: int = 0
    bytes_sent: int = 0
    total_bytes: int | None = None


@dataclass
class ImportResult:
    """The final summary and every rejected row of one import."""

    summary: pb.ImportSummary
    row_errors: list[pb.ImportRowError] = field(default_factory=list)
    request_id: str = ""

    @property
    def ok(self) -> bool:
        """No row failed (and, unless validate_only, the changes were committed)."""
        return self.summary.failed == 0 and not self.row_errors


@dataclass(frozen=True)
class ExportProgress:
    """Bytes and (for CSV) data rows written so far."""

    bytes_written: int
    rows_written: int


def import_options(
    *,
    upsert: bool,
    validate_only: bool,
    atomic: bool,
    batch_size: int | None,
    request_id: str | None,
    strict: bool = False,
) -> pb.ImportOptions:
    return pb.ImportOptions(
        mode=pb.IMPORT_MODE_UPSERT if upsert else pb.IMPORT_MODE_CREATE_ONLY,
        validate_only=validate_only,
        atomic=atomic,
        batch_size=batch_size or 0,
        request_id=request_id or str(uuid.uuid4()),
        strict=strict,
    )


def is_xlsx(source: ImportSource) -> bool:
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".xlsx"


def xlsx_request(
    path: str | os.PathLike[str], options: pb.ImportOptions
) -> pb.ImportCommoditiesRequest:
    """A whole workbook in one ImportCommoditiesRequest (XLSX cannot be chunked)."""
    return pb.ImportCommoditiesRequest(
        xlsx_data=Path(path).read_bytes(),
        mode=options.mode,
        validate_only=options.validate_only,
        atomic=options.atomic,
        batch_size=options.batch_size,
        request_id=options.request_id,
        strict=options.strict,
    )


def total_bytes(source: ImportSource) -> int | None:
    if isinstance(source, (str, os.PathLike)):
        return Path(source).stat().st_size
    if isinstance(source, bytes):
        return len(source)
    return None


class UploadRequests:
    """The UploadCommodities request stream for `source`; counts the bytes it sent."""

    def __init__(self, source: ImportSource, options: pb.ImportOptions) -> None:
        self.source = source
        self.options = options
        self.bytes_sent = 0

    def __iter__(self) -> Iterator[pb.UploadCommoditiesRequest]:
        yield pb.UploadCommoditiesRequest(options=self.options)
        source = self.source
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as file:
                yield from self._chunks(file)
        elif isinstance(source, bytes):
            for start in range(0, len(source), CHUNK_BYTES):
                self.bytes_sent += len(source[start : start + CHUNK_BYTES])
                yield pb.UploadCommoditiesRequest(csv_chunk=source[start : start + CHUNK_BYTES])
        elif hasattr(source, "read"):
            yield from self._chunks(cast(IO[bytes], source))  # hasattr does not narrow
        else:
            yield from _row_batches(source)

    def _chunks(self, file: IO[bytes]) -> Iterator[pb.UploadCommoditiesRequest]:
        while chunk := file.read(CHUNK_BYTES):
            self.bytes_sent += len(chunk)
            yield pb.UploadCommoditiesRequest(csv_chunk=chunk)


def _row_batches(rows: Iterable[pb.Commodity]) -> Iterator[pb.UploadCommoditiesRequest]:
    batch: list[pb.Commodity] = []
    for row in rows:
        batch.append(row)
        if len(batch) == ROWS_PER_MESSAGE:
            yield pb.UploadCommoditiesRequest(rows=pb.CommodityRows(commodities=batch))
            batch = []
    if batch:
        yield pb.UploadCommoditiesRequest(rows=pb.CommodityRows(commodities=batch))


class ImportCollector:
    """Folds an import's response stream into an ImportResult, reporting progress."""

    def __init__(
        self,
        request_id: str,
        on_progress: Callable[[ImportProgress], Any] | None,
        sent: Callable[[], int] = lambda: 0,
        total: int | None = None,
    ) -> None:
        self.result = ImportResult(pb.ImportSummary(), request_id=request_id)
        self._on_progress = on_progress
        self._sent = sent
        self._total = total
        self._done = False

    def add(self, response: pb.ImportCommoditiesResponse | pb.UploadCommoditiesResponse) -> None:
        kind = response.WhichOneof("kind")
        if kind == "row_error":
            self.result.row_errors.append(response.row_error)
        elif kind == "progress":
            self._report(response.progress)
        elif kind == "summary":
            self.result.summary.CopyFrom(response.summary)
            self._done = True
            self._report(response.summary)

    def finish(self) -> ImportResult:
        if not self._done:
            raise RuntimeError("the import stream ended without a summary")
        return self.result

    def _report(self, counts: pb.ImportProgress | pb.ImportSummary) -> None:
        if self._on_progress is None:
            return
        self._on_progress(
            ImportProgress(
                rows_read=counts.rows_read,
                created=counts.created,
                updated=counts.updated,
                unchanged=counts.unchanged,
                failed=counts.failed,
                varieties_created=counts.varieties_created,
                varieties_updated=counts.varieties_updated,
                bytes_sent=self._sent(),
                total_bytes=self._total,
            )
        )


def export_request(
    format: ExportFormatName, filter: str, include_varieties: bool
) -> pb.ExportCommoditiesRequest:
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {sorted(EXPORT_FORMATS)}, not {format!r}")
    return pb.ExportCommoditiesRequest(
        filter=filter,
        format=EXPORT_FORMATS[format],
        include_varieties=include_varieties,
    )


class CsvRowCounter:
    """Counts CSV records in a byte stream split anywhere; quoted line breaks don't count."""

    def __init__(self) -> None:
        self.lines = 0
        self._quoted = False
        self._open_line = False

    def feed(self, chunk: bytes) -> None:
        for index, part in enumerate(chunk.split(b'"')):
            if index:
                self._quoted = not self._quoted  # "" (an escaped quote) toggles twice
            if not self._quoted:
                self.lines += part.count(b"\n")
        if chunk:
            self._open_line = not chunk.endswith(b"\n")

    @property
    def data_rows(self) -> int:
        """Records after the header (a last line without a newline counts)."""
        return max(self.lines + (1 if self._open_line else 0) - 1, 0)


#: What to install when an XLSX export finds no openpyxl.
XLSX_EXTRA = "XLSX exports count their rows with openpyxl: pip install 'masterdata-client[xlsx]'"


def require_xlsx() -> None:
    """Raise ImportError (naming the extra) unless openpyxl, of the `xlsx` extra, is there.

    Checked before an XLSX export starts, so a missing extra costs no download.
    """
    if importlib.util.find_spec("openpyxl") is None:
        raise ImportError(XLSX_EXTRA)


def xlsx_data_rows(workbook_file: str | os.PathLike[str] | IO[bytes]) -> int:
    """Data rows of the first sheet of a finished workbook."""
    from openpyxl import load_workbook  # the `xlsx` extra: only XLSX exports need it

    workbook = load_workbook(workbook_file, read_only=True)
    try:
        sheet = workbook.worksheets[0]
        return sum(1 for row in sheet.iter_rows(min_row=2, values_only=True) if any(row))
    finally:
        workbook.close()


class ExportWriter:
    """Writes export chunks to a path or binary file and counts what went out."""

    def __init__(self, destination: Destination, format: ExportFormatName) -> None:
        if format == "xlsx":
            require_xlsx()
        self._owned = isinstance(destination, (str, os.PathLike))
        self._file: IO[bytes] = (
            open(destination, "wb")  # noqa: SIM115 - closed by close()
            if isinstance(destination, (str, os.PathLike))
            else destination
        )
        self._format = format
        self._counter = CsvRowCounter()
        #: An XLSX sent to a caller's file object, kept to count its rows at the end.
        self._copy = io.BytesIO() if format == "xlsx" and not self._owned else None
        self.bytes_written = 0

    def write(self, chunk: bytes) -> ExportProgress:
        self._file.write(chunk)
        self.bytes_written += len(chunk)
        if self._format == "csv":
            self._counter.feed(chunk)
        elif self._copy is not None:
            self._copy.write(chunk)
        return ExportProgress(self.bytes_written, self._counter.data_rows)

    def close(self) -> int:
        """Close (a path) or flush (a file); the number of data rows written."""
        if self._owned:
            self._file.close()
        else:
            self._file.flush()
        if self._format == "csv":
            return self._counter.data_rows
        if self.bytes_written == 0:
            return 0
        return xlsx_data_rows(self._copy if self._copy is not None else self._file.name)
