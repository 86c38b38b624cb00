"""The staging table of an import batch: its shape, its COPY text, its merges.

Why COPY in text format, written here: asyncpg's binary COPY encodes each of a
row's 44 values in turn (Decimals through Python, jsonb through SQLAlchemy's
Python codec), ~6.5 µs of client CPU a row, and `records` made its tuples for
another ~2 µs. The rows of an import repeat all but a few of their values (units,
rates, lists, documents, the batch's audit values), so here a row is its own
values (id, name, category, codes, description) and the text of the rest, written
once per distinct set of value objects. The database parses the text about as
fast as the binary (measured: ~9 µs a row either way). JSON values go as their
text into jsonb (commodities) or text (staging, cast `::jsonb` in the merge).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Integer, Numeric, String, Uuid

from masterdata.server.memos import IdentityMemo
from masterdata.server.storage.models.commodity import CommodityRow

TABLE = CommodityRow.__table__
COLUMNS: tuple[str, ...] = tuple(c.key for c in TABLE.columns)
_JSON = tuple(c.key for c in TABLE.columns if isinstance(c.type, JSON))
#: The values that differ from row to row, written for every row (id first: `record_id`).
_OWN = ("id", "name", "category", "hsn_code", "hs_code_6digit", "description")
_SHARED = tuple(c for c in COLUMNS if c not in _OWN)
#: COPY column order: a row's own values, then the ones its text is shared for.
COPY_COLUMNS = _OWN + _SHARED
_take_own, _take_shared = itemgetter(*_OWN), itemgetter(*_SHARED)
#: The values a create stamps on each row of a batch (planning._Stamps), all shared.
_take_audit = itemgetter(
    "create_time", "update_time", "delete_time", "created_by", "updated_by", "revision"
)

STAGING = "commodity_import_staging"
_STAGED_TYPES = ", ".join(
    [*(c for c in COLUMNS if c not in _JSON), *(f"NULL::text AS {c}" for c in _JSON)]
)
CREATE_STAGING = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGING} ON COMMIT DELETE ROWS AS "
    f"SELECT {_STAGED_TYPES} FROM commodities WITH NO DATA"
)


def _stored(column: str) -> str:
    """The staged column `s.<column>` as the value the commodities table stores."""
    return f"s.{column}::jsonb" if column in _JSON else f"s.{column}"


# A staged create has revision 1; a staged update the stored revision + 1 (>= 2).
MERGE_CREATES = (
    f"INSERT INTO commodities ({', '.join(COLUMNS)}) "
    f"SELECT {', '.join(map(_stored, COLUMNS))} FROM {STAGING} AS s "
    "WHERE s.revision = 1 ON CONFLICT DO NOTHING RETURNING id"
)
_SET = [c for c in COLUMNS if c != "id"]
MERGE_UPDATES = (
    f"UPDATE commodities AS c SET ({', '.join(_SET)}) = ({', '.join(map(_stored, _SET))}) "
    f"FROM {STAGING} AS s WHERE s.revision > 1 AND c.id = s.id"
)
CLEAR_STAGING = f"TRUNCATE {STAGING}"

#: What COPY's text format escapes in a value (the delimiter is a tab).
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NULL = "\\N"
#: Own values joined by tabs need no escaping if these are all its tabs (and it has no
#: backslash or line break).
_OWN_TABS = len(_OWN) - 1


def _escaped(text: str) -> str:
    return _SPECIAL.sub(lambda m: _ESCAPES[m.group()], text)


def _plain(value: Any) -> str:
    """A text, number, flag, time or id value as COPY text (NULL for None)."""
    if value is None:
        return _NULL
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.isoformat() if value.tzinfo is not None else f"{value.isoformat()}+00:00"
    return _escaped(str(value))


def _writer(column: str) -> Callable[[Any], str]:
    kind = TABLE.c[column].type
    if isinstance(kind, JSON):
        return _JsonText()
    if not isinstance(kind, (Boolean, DateTime, Integer, Numeric, String, Uuid)):
        raise TypeError(f"no COPY text for {column} ({kind!r})")
    return _plain


class _JsonText:
    """json.dumps with memory, escaped: rows repeat the same lists and documents.

    None is "null", as SQLAlchemy's JSON type stores it.
    """

    def __init__(self) -> None:
        self._lists: dict[tuple[Any, ...], str] = {}
        self._documents = IdentityMemo(lambda value: _escaped(json.dumps(value)), _REMEMBERED)

    def __call__(self, value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, list):
            key = tuple(value)
            text = self._lists.get(key)
            if text is None:
                if len(self._lists) >= _REMEMBERED:
                    self._lists.clear()
                text = self._lists[key] = _escaped(json.dumps(value))
            return text
        return self._documents(value)


class _SharedTexts:
    """The text of a row's shared values, once per distinct set of value objects.

    Looked up by the values' identities: the rows of an import share their value
    objects (per-column memos, one clock per batch). Kept across batches (and
    imports) for `_REMEMBERED` sets at a time, each set's values held alive while
    its key is remembered, so no identity is reused meanwhile.
    """

    def __init__(self) -> None:
        self._writers = [_writer(column) for column in _SHARED]
        self._texts: dict[tuple[int, ...], str] = {}
        self._alive: list[tuple[Any, ...]] = []

    def __call__(self, row: dict[str, Any], shape: Any) -> str:
        """The text of `row`'s shared values; `shape`, unless None, is what they are a
        function of but the audit values (planning.Plan.create_shapes), so the text is
        looked up by it and those six instead of by all thirty-seven (~1.8 µs a row)."""
        if shape is None:
            alive: tuple[Any, ...] = _take_shared(row)
            key = tuple(map(id, alive))
        else:
            alive = (shape, *_take_audit(row))
            key = tuple(map(id, alive))
        text = self._texts.get(key)
        if text is None:
            if len(self._texts) >= _REMEMBERED:
                self._texts.clear()
                self._alive.clear()
            values = _take_shared(row)
            writers = self._writers
            text = self._texts[key] = "\t".join(
                [w(v) for w, v in zip(writers, values, strict=True)]
            )
            self._alive.append(alive)
        return text


_REMEMBERED = 4096
_shared_text = _SharedTexts()


def records(rows: Iterable[tuple[dict[str, Any], Any]]) -> list[str]:
    """Rows, each with its shape (None if it has none), as lines of COPY text in
    COPY_COLUMNS order.

    A row's own values are written for it; the text of the rest is usually
    remembered (`_SharedTexts`), one lookup instead of thirty-odd conversions.
    """
    shared = _shared_text
    out = []
    for row, shape in rows:
        own = _take_own(row)
        try:
            line = "\t".join((str(own[0]), *own[1:]))
        except TypeError:  # a None: NULL
            line = ""
        if line.count("\t") != _OWN_TABS or "\\" in line or "\n" in line or "\r" in line:
            line = "\t".join(map(_plain, own))
        out.append(f"{line}\t{shared(row, shape)}\n")
    return out


async def text(lines: Sequence[str]) -> AsyncIterator[bytes]:
    """The COPY data of `records`' lines, as asyncpg's copy_to_table takes it."""
    yield "".join(lines).encode()


def record_id(line: str) -> uuid.UUID:
    """The id of a `records` line (its first value)."""
    return uuid.UUID(line[:36])
