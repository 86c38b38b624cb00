"""XLSX input: the first sheet's rows as cell texts, read with openpyxl in read-only mode.

openpyxl parses in pure Python, so rows are taken in slices on a worker thread:
the event loop keeps serving other calls while a large workbook is read.
"""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time
from itertools import islice
from typing import Any
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from masterdata.server.bulk.csv_input import unreadable
from masterdata.server.bulk.ooxml_text import unescape
from masterdata.server.bulk.zip_bounds import check_expansion

_FLOAT_INT_LIMIT = 1e15


def cell_text(value: Any) -> str:
    """A cell value as the text a CSV would hold; integral floats lose their ".0"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < _FLOAT_INT_LIMIT:
            return str(int(value))
        return repr(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, str):
        return unescape(value)  # Excel's _xHHHH_ escapes (bulk/ooxml_text.py)
    return str(value)


class XlsxRows:
    """The first worksheet of a workbook, row by row (row 1 is the header)."""

    def __init__(self, data: bytes, source: str) -> None:
        self.source = source
        self.declared_rows: int | None = None
        self._data = data
        self._book: Any = None
        self._rows: Iterator[tuple[Any, ...]] = iter(())

    async def open(self, max_expanded_bytes: int) -> None:
        """Read the workbook's structure (on a thread; shared strings can be large).

        A workbook whose parts expand to more than `max_expanded_bytes` is refused
        first, before openpyxl inflates any of it (see zip_bounds).
        """
        await asyncio.to_thread(self._open, max_expanded_bytes)

    def _open(self, max_expanded_bytes: int) -> None:
        data, source = self._data, self.source
        check_expansion(data, max_expanded_bytes, source)
        try:
            self._book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            sheet = self._book.worksheets[0]
            self.declared_rows = sheet.max_row
            # Some writers store a wrong <dimension>; read every row that exists.
            sheet.reset_dimensions()
        except (zipfile.BadZipFile, InvalidFileException, KeyError, ParseError, IndexError):
            raise unreadable(source, "not an XLSX workbook") from None
        except (OSError, ValueError, TypeError) as error:
            raise unreadable(source, f"not a readable XLSX workbook ({error})") from None
        self._rows = sheet.iter_rows(values_only=True)

    async def take(self, count: int) -> list[list[str]]:
        """The next `count` rows (fewer at the end, [] when done)."""
        return await asyncio.to_thread(self._take, count)

    def _take(self, count: int) -> list[list[str]]:
        try:
            return [[cell_text(v) for v in row] for row in islice(self._rows, count)]
        except (zipfile.BadZipFile, KeyError, ParseError, ValueError, TypeError) as error:
            raise unreadable(self.source, f"a damaged worksheet ({error})") from None

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
