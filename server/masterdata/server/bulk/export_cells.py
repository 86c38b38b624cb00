"""Stored commodity rows -> the cell texts of a CSV or XLSX export, fast.

Why a column plan instead of `format_cell` per attribute: an export formats
every cell of every row, so per-cell dispatch and attribute lookups dominate
its cost. Each column gets its formatter once (text columns none at all), and
rows are read by position. On PostgreSQL the JSON columns are selected as text
(`CAST(... AS TEXT)`): decoding 16 JSON values a row only to encode them again
cost more than everything else an export does; documents are written as
PostgreSQL renders jsonb and lists are decoded only when not empty. Either way
the cells import back to the same values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Text, cast

from masterdata.server.bulk.cells import format_cell
from masterdata.server.bulk.columns import COLUMNS, Kind
from masterdata.server.bulk.store import TABLE

Formatter = Callable[[Any], Any] | None


def _decimal(value: Any) -> str:
    return "" if value is None else format(value, "f")


def _boolean(value: Any) -> str:
    return "true" if value else "false"


_ENUM_CELLS: dict[Any, str] = {}


def _enum(value: Any) -> str:
    cell = _ENUM_CELLS.get(value)
    if cell is None:
        cell = _ENUM_CELLS[value] = format_cell(Kind.ENUM, value)
    return cell


def _uuid(value: Any) -> str:
    return str(value)


@lru_cache(maxsize=4096)  # lists repeat from row to row ("INR;USD")
def _list_text(text: str | None) -> str:
    return "" if text in (None, "[]", "null") else ";".join(json.loads(text))  # type: ignore[arg-type]


def _document_text(text: str | None) -> str:
    return "" if text in (None, "null") else text  # type: ignore[return-value]


def _list(value: Any) -> str:
    return format_cell(Kind.LIST, value)


def _document(value: Any) -> str:
    return format_cell(Kind.JSON, value)


_FORMATTERS: dict[Kind, Formatter] = {
    Kind.TEXT: None,
    Kind.CODE: None,
    Kind.INTEGER: None,
    Kind.UUID: _uuid,
    Kind.DECIMAL: _decimal,
    Kind.BOOLEAN: _boolean,
    Kind.ENUM: _enum,
    Kind.LIST: _list,
    Kind.JSON: _document,
}
_AS_TEXT: dict[Kind, Formatter] = {Kind.LIST: _list_text, Kind.JSON: _document_text}


class CellWriter:
    """The columns an export selects and the cells it makes of each selected row."""

    def __init__(self, *, postgres: bool) -> None:
        self.columns: list[ColumnElement[Any]] = []
        self._plan: list[tuple[int, Formatter]] = []
        for index, column in enumerate(COLUMNS):
            stored = TABLE.c[column.field]
            if postgres and column.kind in _AS_TEXT:
                self.columns.append(cast(stored, Text).label(column.field))
                self._plan.append((index, _AS_TEXT[column.kind]))
            else:
                self.columns.append(stored)
                self._plan.append((index, _FORMATTERS[column.kind]))

    def cells(self, row: Sequence[Any], varieties: Sequence[Any] | None) -> list[Any]:
        """One selected row as cells (None for an empty cell), plus its varieties' names."""
        cells = [row[i] if f is None else f(row[i]) for i, f in self._plan]
        if varieties is not None:
            cells.append(";".join(v.name for v in varieties))
        return cells
