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

from sqlalchemy import JSON, Boolean, DateTime, Numeric

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
#: Own values of a row with no special character: their tabs are the delimiters.
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
    assert isinstance(kind, (Boolean, DateTime, Numeric)) or kind.python_type in (
        str,
        int,
        uuid.UUID,
    )
    return _plain


class _JsonText:
    """json.dumps with memory, escaped: rows repeat the same lists and documents.

    None is "null", as SQLAlchemy's JSON type stores it.
    """

    def __init__(self) -> None:
        self._lists: dict[tuple[Any, ...], str] = {}
        self._documents = IdentityMemo(lambda value: _escaped(json.dumps(value)))

    def __call__(self, value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, list):
            key = tuple(value)
            text = self._lists.get(key)
            if text is None:
                text = self._lists[key] = _escaped(json.dumps(value))
            return text
        return self._documents(value)


def records(rows: Iterable[dict[str, Any]]) -> list[str]:
    """Rows as lines of COPY text in COPY_COLUMNS order.

    The text of a row's shared values is looked up by their identities: the rows of
    an import share their value objects (per-column memos, one clock per batch), so
    one lookup usually replaces thirty-odd conversions. The values of each key are
    kept alive while it is remembered, so no identity is reused meanwhile.
    """
    writers = [_writer(column) for column in _SHARED]
    texts: dict[tuple[int, ...], str] = {}
    alive: list[tuple[Any, ...]] = []
    out = []
    for row in rows:
        values = _take_shared(row)
        key = tuple(map(id, values))
        shared = texts.get(key)
        if shared is None:
            shared = texts[key] = "\t".join([w(v) for w, v in zip(writers, values, strict=True)])
            alive.append(values)
        own = _take_own(row)
        line = "\t".join([str(own[0]), *own[1:]]) if None not in own else None
        if line is None or line.count("\t") != _OWN_TABS or _SPECIAL.search(line) is not None:
            line = "\t".join(map(_plain, own))
        out.append(f"{line}\t{shared}\n")
    return out


async def text(lines: Sequence[str]) -> AsyncIterator[bytes]:
    """The COPY data of `records`' lines, as asyncpg's copy_to_table takes it."""
    yield "".join(lines).encode()


def record_id(line: str) -> uuid.UUID:
    """The id of a `records` line (its first value)."""
    return uuid.UUID(line[:36])
