"""Stored commodity rows -> the cell texts of a CSV or XLSX export, fast.

Why a column plan instead of `format_cell` per attribute: an export formats
every cell of every row, so per-cell work in Python dominates its cost. Each
column gets its formatter once (text columns none at all), and rows are read
by position. On PostgreSQL the database renders most cells as their text
already: decimals (numeric keeps its scale: 5.00), booleans and JSON documents
(as jsonb renders them, NULL for none). Decoding 16 JSON values a row only to
encode them again cost more than everything else an export did; the cells
left to Python are the id (also the key of the page's varieties), lists
(their JSON text decoded once per distinct text) and the volatility enum.
Either way the cells import back to the same values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Text, case, cast, func

from masterdata.server.bulk.cells import format_cell
from masterdata.server.bulk.columns import COLUMNS, Kind
from masterdata.server.bulk.store import TABLE
from masterdata.server.bulk.varieties import join_names

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
    return "" if text in (None, "[]", "null") else ";".join(json.loads(text))


def _boolean_text(stored: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((stored, "true"), else_="false")


def _document_as_text(stored: ColumnElement[Any]) -> ColumnElement[Any]:
    return func.nullif(cast(stored, Text), "null")


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
#: Where the backend casts in SQL: the expression that selects a column as its cell
#: text, and what Python still does to it (lists: a cached decode of the JSON text).
_IN_SQL: dict[Kind, tuple[Callable[[ColumnElement[Any]], ColumnElement[Any]], Formatter]] = {
    Kind.DECIMAL: (lambda stored: cast(stored, Text), None),
    Kind.BOOLEAN: (_boolean_text, None),
    Kind.LIST: (lambda stored: cast(stored, Text), _list_text),
    Kind.JSON: (_document_as_text, None),
}


class CellWriter:
    """The columns an export selects and the cells it makes of each selected row."""

    def __init__(self, *, in_sql: bool) -> None:
        self.columns: list[ColumnElement[Any]] = []
        self._formatters: list[tuple[int, Callable[[Any], Any]]] = []
        for index, column in enumerate(COLUMNS):
            stored: ColumnElement[Any] = TABLE.c[column.field]
            formatter = _FORMATTERS[column.kind]
            if in_sql and column.kind in _IN_SQL:
                as_text, formatter = _IN_SQL[column.kind]
                stored = as_text(stored).label(column.field)
            self.columns.append(stored)
            if formatter is not None:
                self._formatters.append((index, formatter))

    def cells(self, row: Sequence[Any], varieties: Sequence[Any] | None) -> list[Any]:
        """One selected row as cells (None for an empty cell), plus its varieties' names."""
        cells = list(row)
        for index, formatter in self._formatters:
            cells[index] = formatter(cells[index])
        if varieties is not None:
            cells.append(join_names(v.name for v in varieties))
        return cells
