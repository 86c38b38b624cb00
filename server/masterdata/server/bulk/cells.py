"""Cell text -> column value, and column value -> cell text for export.

Parsing is lenient where spreadsheets are sloppy and strict where data would be
lost: "5201.0" in a code column is the number Excel made of 5201, "Yes" is true,
"very high" is PRICE_VOLATILITY_VERY_HIGH; a decimal with more places than its
column keeps is an error, as it is through CreateCommodity. JSON cells are kept
as google.protobuf.Struct keeps a Commodity message's fields (numbers become
doubles), so an imported document is stored exactly as the same document sent
through the API.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from masterdata.server.bulk.columns import Column, Kind
from masterdata.server.domain import text as text_rule
from masterdata.server.domain.text import value_paths
from masterdata.v1 import commodity_pb2 as pb

_TRUE = frozenset({"true", "t", "yes", "y", "1", "1.0", "on", "x"})
_FALSE = frozenset({"false", "f", "no", "n", "0", "0.0", "off", ""})
_LIST_SPLIT = re.compile(r"\s*;\s*")
_CODE_LIST_SPLIT = re.compile(r"[\s;,]+")
_CODE_LISTS = frozenset({"supported_currencies", "major_producing_countries"})
_CODE_LISTS |= {"major_consuming_countries"}
_ENUM_PREFIX = "PRICE_VOLATILITY_"
_ENUM_VALUES = frozenset(pb.PriceVolatility.keys())
_ENUM_SPACES = re.compile(r"[\s\-]+")
#: A code Excel stored as a number: digits with a ".0" tail or an exponent.
_NUMERIC_CODE = re.compile(r"[0-9]+(?:\.0*)?|[0-9.]+[eE]\+?[0-9]+")
_CODE_WIDTH = {"hsn_code": (2, 4, 6, 8), "hs_code_6digit": (6,)}
_MAX_DECIMAL_CHARS = 60
_MAX_JSON_DEPTH = 64


class CellError(Exception):
    """A cell that cannot become its column's value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


Parser = Callable[[str], Any]


def parser_for(column: Column) -> Parser:
    """The text -> value function of one column (text arrives unstripped)."""
    make = _PARSERS[column.kind]
    return make(column)


def _text(column: Column) -> Parser:
    limit = column.max_length

    def parse(text: str) -> str:
        value = text.strip()
        _refuse_unstorable(value)
        if limit is not None and len(value) > limit:
            raise CellError("TOO_LONG", f"must be at most {limit} characters")
        return value

    return parse


def _refuse_unstorable(text: str) -> None:
    if text_rule.UNSTORABLE in text:
        raise CellError(text_rule.REASON, text_rule.DESCRIPTION)


def _code(column: Column) -> Parser:
    widths = _CODE_WIDTH.get(column.field, ())
    text = _text(column)

    def parse(raw: str) -> str:
        value = raw.strip()
        if value and not value.isdigit() and _NUMERIC_CODE.fullmatch(value):
            value = _integral_text(value) or value
        if value.isdigit() and len(value) + 1 in widths:
            # Excel drops a leading zero (HSN 0401 becomes 401); codes are even-length.
            value = "0" + value
        parsed: str = text(value)
        return parsed

    return parse


def _integral_text(value: str) -> str | None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        return None
    return str(int(number))


def _decimal(column: Column) -> Parser:
    scale, precision = column.scale, column.precision
    quantum = Decimal(1).scaleb(-scale) if scale is not None else None
    percent = column.field.endswith("_pct") or column.field == "gst_rate"

    def parse(text: str) -> Decimal | None:
        raw = text.strip()
        if percent:
            raw = raw.removesuffix("%").strip()
        if not raw:
            return None
        try:
            value = Decimal(raw if len(raw) <= _MAX_DECIMAL_CHARS else "x")
        except InvalidOperation:
            raise CellError("INVALID_DECIMAL", f"{raw[:40]!r} is not a decimal number") from None
        if not value.is_finite():
            raise CellError("INVALID_DECIMAL", "must be a finite decimal number")
        exponent = value.as_tuple().exponent
        if scale is not None and isinstance(exponent, int) and -exponent > scale:
            value = _excel_float(value, scale)
        if precision is not None and scale is not None and abs(value) >= 10 ** (precision - scale):
            raise CellError("INVALID_DECIMAL", "is too large")
        return value.quantize(quantum) if quantum is not None else value

    return parse


def _excel_float(value: Decimal, scale: int) -> Decimal:
    """5.000000000000001 is Excel's float noise for 5; 5.123 at scale 2 is an error."""
    rounded = value.quantize(Decimal(1).scaleb(-scale))
    if abs(value - rounded) > Decimal("1e-9"):
        raise CellError("INVALID_DECIMAL", f"must have at most {scale} decimal places")
    return rounded


def _integer(_column: Column) -> Parser:
    def parse(text: str) -> int | None:
        raw = text.strip()
        if not raw:
            return None
        integral = _integral_text(raw.lstrip("-")) if len(raw) < 20 else None
        if integral is None:
            raise CellError("INVALID_INTEGER", f"{raw[:40]!r} is not a whole number")
        return -int(integral) if raw.startswith("-") else int(integral)

    return parse


def _boolean(column: Column) -> Parser:
    default = column.field == "is_active"

    def parse(text: str) -> bool:
        raw = text.strip().casefold()
        if not raw:
            return default
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        raise CellError("INVALID_BOOLEAN", f"{raw[:20]!r} is not true/false (or yes/no)")

    return parse


def _enum(_column: Column) -> Parser:
    def parse(text: str) -> str:
        raw = _ENUM_SPACES.sub("_", text.strip().upper())
        if not raw:
            return _ENUM_PREFIX + "UNSPECIFIED"
        name = raw if raw.startswith(_ENUM_PREFIX) else _ENUM_PREFIX + raw
        if name not in _ENUM_VALUES:
            shown = ", ".join(v.removeprefix(_ENUM_PREFIX) for v in sorted(_ENUM_VALUES))
            raise CellError("INVALID_ENUM", f"{text.strip()[:40]!r} is not one of {shown}")
        return name

    return parse


def _list(column: Column) -> Parser:
    split = _CODE_LIST_SPLIT if column.field in _CODE_LISTS else _LIST_SPLIT

    def parse(text: str) -> list[str]:
        raw = text.strip()
        _refuse_unstorable(raw)
        return [item for item in split.split(raw) if item] if raw else []

    return parse


def _json(_column: Column) -> Parser:
    def parse(text: str) -> dict[str, Any] | None:
        raw = text.strip()
        _refuse_unstorable(raw)
        return _json_document(raw) if raw else None

    return parse


@lru_cache(maxsize=4096)
def _json_document(raw: str) -> dict[str, Any]:
    """A JSON object as google.protobuf.Struct keeps it (numbers become doubles).

    Cached by text: files repeat the same documents row after row, and the one
    shared dict is never mutated downstream. Equal to a round trip through
    Struct.update and MessageToDict (tests/unit/test_bulk_parsing.py), without
    building messages.
    """
    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise CellError("INVALID_JSON", "is not valid JSON") from None
    if not isinstance(document, dict):
        raise CellError("INVALID_JSON", "must be a JSON object ({...})")
    if "\\u0000" in raw:  # a raw NUL was refused before parsing
        bad = next(value_paths(document, "document"), None)
        if bad is not None:
            raise CellError(text_rule.REASON, f"{bad} {text_rule.DESCRIPTION}")
    return _as_struct(document, 0)  # type: ignore[no-any-return]


def _as_struct(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, (str, bool)):
        return value
    if depth > _MAX_JSON_DEPTH:
        raise CellError("INVALID_JSON", f"must not nest deeper than {_MAX_JSON_DEPTH} levels")
    if isinstance(value, dict):
        return {key: _as_struct(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_struct(item, depth + 1) for item in value]
    try:
        number = float(value)
    except OverflowError:
        raise CellError("INVALID_JSON", "holds a number too large for JSON") from None
    if not math.isfinite(number):
        raise CellError("INVALID_JSON", "holds NaN or Infinity")
    return number


def _uuid(_column: Column) -> Parser:
    def parse(text: str) -> uuid.UUID | None:
        raw = text.strip()
        if not raw:
            return None
        try:
            return uuid.UUID(raw) if len(raw) <= 45 else uuid.UUID("x")
        except ValueError:
            raise CellError("INVALID_ID", "must be a UUID (or empty)") from None

    return parse


_PARSERS: dict[Kind, Callable[[Column], Parser]] = {
    Kind.TEXT: _text,
    Kind.CODE: _code,
    Kind.DECIMAL: _decimal,
    Kind.INTEGER: _integer,
    Kind.BOOLEAN: _boolean,
    Kind.ENUM: _enum,
    Kind.LIST: _list,
    Kind.JSON: _json,
    Kind.UUID: _uuid,
}


def format_cell(kind: Kind, value: Any) -> str:
    """A stored value as the cell text that imports back to the same value."""
    if value is None:
        return ""
    if kind is Kind.DECIMAL:
        return format(value, "f")
    if kind is Kind.BOOLEAN:
        return "true" if value else "false"
    if kind is Kind.LIST:
        return ";".join(value)
    if kind is Kind.JSON:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if kind is Kind.ENUM:
        short = str(value).removeprefix(_ENUM_PREFIX)
        return "" if short == "UNSPECIFIED" else short
    return str(value)
