"""Where import rows come from: a CSV or XLSX file, Commodity messages, or an upload.

Every source is an async iterator of row slices. A file row is numbered as the
user sees it in a spreadsheet: the header is row 1, the first data row row 2,
and a quoted cell with line breaks is still one row. Blank rows and comment rows
(a first cell starting with "#" and nothing else, as in the CSV template) are
skipped but keep their numbers. Message rows are numbered 1, 2, ... across all
messages. Limits (bytes, rows) are enforced as input arrives; a single-message
import is checked before anything is written (see `precheck_csv`).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from masterdata.server.bulk.columns import Header, resolve_header
from masterdata.server.bulk.csv_input import CsvRecords, unreadable
from masterdata.server.bulk.xlsx_input import XlsxRows
from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.v1 import commodity_pb2 as pb

#: Bytes of CSV parsed at a time, so a large chunk never becomes all its rows at once.
CSV_SLICE_BYTES = 1 << 20
XLSX_SLICE_ROWS = 1000
_ZIP_SIGNATURE = b"PK\x03\x04"


class FileRow(NamedTuple):
    """A data row of a file: its number and its cells (in header order).

    A named tuple: one is made per row, in a third of a frozen dataclass's time.
    """

    number: int
    cells: Sequence[str]


@dataclass(frozen=True, slots=True)
class MessageRow:
    """A Commodity sent as a message."""

    number: int
    message: pb.Commodity


InputRow = FileRow | MessageRow


@dataclass(frozen=True)
class Limits:
    """How much one import may bring."""

    max_bytes: int
    max_rows: int
    #: Largest total uncompressed size of an XLSX workbook's parts.
    max_expanded_bytes: int

    def check_bytes(self, size: int, source: str) -> None:
        if size > self.max_bytes:
            raise InvalidArgument(
                f"the import is larger than {self.max_bytes} bytes",
                violations=[FieldViolation(source, f"at most {self.max_bytes} bytes", "TOO_LARGE")],
                metadata={"max_bytes": str(self.max_bytes)},
            )

    def check_rows(self, count: int, source: str) -> None:
        if count > self.max_rows:
            raise InvalidArgument(
                f"the import has more than {self.max_rows} rows",
                violations=[
                    FieldViolation(source, f"at most {self.max_rows} data rows", "TOO_MANY_ROWS")
                ],
                metadata={"max_rows": str(self.max_rows)},
            )


class FileRows:
    """Turns a file's records into numbered data rows once the header is known."""

    def __init__(self, source: str, limits: Limits, *, strict: bool = False) -> None:
        self.source = source
        self.limits = limits
        #: Unknown header cells are INVALID_ARGUMENT instead of ignored_columns.
        self.strict = strict
        self.header: Header | None = None
        self.number = 0
        self.data_rows = 0

    def rows(self, records: Iterable[Sequence[str]]) -> list[FileRow]:
        out: list[FileRow] = []
        start = number = self.number
        for number, cells in enumerate(records, start + 1):
            first = cells[0].strip() if cells else ""
            # Most rows start with a value that is not a comment: a data row at once.
            if not first or first[0] == "#" or self.header is None:
                if not any(cell.strip() for cell in cells):
                    continue
                if self.header is None:
                    self.header = resolve_header(cells, self.source, strict=self.strict)
                    continue
                if first.startswith("#") and not any(c.strip() for c in cells[1:]):
                    continue
            out.append(FileRow(number, cells))
        self.number = number
        self.data_rows += len(out)
        self.limits.check_rows(self.data_rows, self.source)
        return out

    def ignored(self) -> tuple[str, ...]:
        """The header cells that named no column (none before the header is read)."""
        return self.header.unknown if self.header is not None else ()

    def require_header(self) -> Header:
        if self.header is None:
            raise InvalidArgument(
                "the file is empty",
                violations=[FieldViolation(self.source, "has no header row", "EMPTY_FILE")],
            )
        return self.header


async def csv_rows(chunks: AsyncIterator[bytes], rows: FileRows) -> AsyncIterator[list[FileRow]]:
    """Rows of a CSV arriving in chunks of any size."""
    reader = CsvRecords(rows.source)
    async for chunk in chunks:
        if not reader.bytes_read:
            refuse_zip(chunk, rows.source)
        for start in range(0, len(chunk), CSV_SLICE_BYTES):
            piece = chunk[start : start + CSV_SLICE_BYTES]
            rows.limits.check_bytes(reader.bytes_read + len(piece), rows.source)
            found = rows.rows(reader.feed(piece))
            if found:
                yield found
    found = rows.rows(reader.finish())
    rows.require_header()
    if found:
        yield found


async def xlsx_rows(book: XlsxRows, rows: FileRows) -> AsyncIterator[list[FileRow]]:
    """Rows of the first sheet of a workbook (its declared size checked first)."""
    try:
        await book.open(rows.limits.max_expanded_bytes)
        if book.declared_rows:
            rows.limits.check_rows(book.declared_rows - 1, rows.source)
        while records := await book.take(XLSX_SLICE_ROWS):
            found = rows.rows(records)
            if found:
                yield found
        rows.require_header()
    finally:
        book.close()


async def message_rows(
    batches: AsyncIterator[Sequence[pb.Commodity]], limits: Limits, source: str
) -> AsyncIterator[list[MessageRow]]:
    """Commodities sent as messages, numbered across messages."""
    number = 0
    async for commodities in batches:
        found = [MessageRow(number + i + 1, c) for i, c in enumerate(commodities)]
        number += len(found)
        limits.check_rows(number, source)
        if found:
            yield found


def refuse_zip(data: bytes, source: str) -> None:
    """A workbook sent as CSV: say so, instead of "not UTF-8" at some offset."""
    if data.startswith(_ZIP_SIGNATURE):
        raise unreadable(
            source,
            "an XLSX workbook or other ZIP file, not CSV (send XLSX as xlsx_data of "
            "ImportCommodities)",
            "NOT_CSV",
        )


def precheck_csv(data: bytes, limits: Limits, source: str, *, strict: bool = False) -> None:
    """Reject a whole CSV before any write: size, encoding, header and row count.

    Counting newlines (C speed) bounds the row count from above; only a file
    that might be over the limit is parsed in full to count its records.
    """
    limits.check_bytes(len(data), source)
    refuse_zip(data, source)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        description = f"not UTF-8 (invalid byte at offset {error.start})"
        raise unreadable(source, description, "NOT_UTF8") from None
    counting = data.count(b"\n") > limits.max_rows
    reader = CsvRecords(source)
    rows = FileRows(
        source,
        limits if counting else dataclasses.replace(limits, max_rows=sys.maxsize),
        strict=strict,
    )
    for start in range(0, len(data), CSV_SLICE_BYTES):
        rows.rows(reader.feed(data[start : start + CSV_SLICE_BYTES]))
        if rows.header is not None and not counting:
            return
    rows.rows(reader.finish())
    rows.require_header()
