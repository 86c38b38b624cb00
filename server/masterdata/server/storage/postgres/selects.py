"""Core SELECTs run on asyncpg directly: compiled once, their parameters bound by name.

Why (issue 18, bench/cpu_per_call.py): a List page through SQLAlchemy's
AsyncConnection paid, per call, the pool checkout, the cache key of the statement,
an execution context, a greenlet switch and result processing — about as much CPU
as the rest of the call. The statements of List and SearchCommodities are built
once per shape with every varying value a bound parameter (resources/listing.py),
so each is compiled here once into asyncpg's SQL text (`$n` parameters) and then
costs only the values' lookup and the driver's own work.
"""

from __future__ import annotations

import json
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import JSON
from sqlalchemy.engine import Dialect

from masterdata.server.memos import Remembered
from masterdata.server.storage.backend import AnySelect

#: The compiled form of a statement, by the statement (built once per shape by callers).
_COMPILED_LIMIT = 1024


@dataclass(frozen=True)
class CompiledSelect:
    """SQL text and how to make its positional arguments and its rows."""

    sql: str
    #: Per `$n`: its parameter's name, its value compiled in (used unless the call
    #: names it), whether the call must name it, and the type's bind processor.
    arguments: tuple[tuple[str, Any, bool, Callable[[Any], Any] | None], ...]
    #: Rows with attribute access by the selected columns' keys, as Core rows have.
    row: Callable[[Any], Any]
    #: Positions of the JSON columns among the selected: decoded by the read pool's
    #: codec, or by `decoded_row` where a connection has none (the write pool's).
    documents: tuple[int, ...]

    def decoded_row(self, record: Any) -> Any:
        """A row of `record` read without a JSON codec: its documents decoded."""
        values = list(record)
        for i in self.documents:
            if values[i] is not None:
                values[i] = json.loads(values[i])
        return self.row(values)

    def bind(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, compiled_in, required, process in self.arguments:
            value = params[name] if required or name in params else compiled_in
            values.append(value if process is None else process(value))
        return values


class CompiledSelects:
    """Statements compiled for one dialect, remembered by the statement object."""

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._compiled: Remembered[CompiledSelect] = Remembered(_COMPILED_LIMIT)

    def __call__(self, statement: AnySelect) -> CompiledSelect:
        return self._compiled.get(statement, None, lambda: self._compile(statement))

    def _compile(self, statement: AnySelect) -> CompiledSelect:
        compiled = statement.compile(dialect=self._dialect)
        binds = compiled.binds
        if any(bind.expanding for bind in binds.values()):
            raise ValueError("expanding (IN) parameters are not supported: use = ANY(array)")
        processors = compiled._bind_processors
        if any(not callable(process) for process in processors.values()):
            raise ValueError("tuple parameters are not supported")
        arguments = tuple(
            (name, binds[name].value, binds[name].required, cast(Any, processors.get(name)))
            for name in compiled.positiontup or ()
        )
        columns = statement.selected_columns
        row: Any = namedtuple("Row", columns.keys())  # type: ignore[misc]
        documents = tuple(i for i, c in enumerate(columns) if isinstance(c.type, JSON))
        return CompiledSelect(compiled.string, arguments, row._make, documents)
