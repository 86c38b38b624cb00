"""Filter ASTs, sort terms and keyset page tokens as SQLAlchemy Core expressions.

Only bound parameters and Core constructs are produced, never SQL text, and every
construct used behaves the same on SQLite and PostgreSQL.

Timestamps: columns are `DateTime(timezone=True)` holding UTC. Filter values and
page-token values are converted to aware UTC datetimes; for a column declared
without a time zone they are made naive UTC. SQLite drops the offset when binding
and returns naive values, which are read back as UTC, so both backends compare
the same instants.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import operator
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import ColumnElement

from masterdata.server.domain import filtering as flt
from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.domain.ordering import OrderTerm, order_by_error
from masterdata.server.memos import Remembered
from masterdata.server.storage.base import utc

MAX_PAGE_TOKEN_LENGTH = 2048
#: The encoders of page tokens, made once: json.dumps with options builds one a call.
_SORTED_JSON = json.JSONEncoder(separators=(",", ":"), sort_keys=True)
_TOKEN_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ORDERED_OPS = frozenset({"<", "<=", ">", ">="})
# `:` is equality except on strings, where _apply makes it a substring match.
#: Applied to a column, each builds a ColumnElement[bool].
_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "=": operator.eq,
    ":": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
}
_OPERATORS |= {"<=": operator.le, ">": operator.gt, ">=": operator.ge}
_TIMESTAMP = re.compile(
    r"(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)", re.A
)
_UUID = re.compile(r"[0-9a-fA-F]{8}(?:-?[0-9a-fA-F]{4}){3}-?[0-9a-fA-F]{12}")
_MAX_DIGITS = 40


class FieldKind(enum.Enum):
    """How a filter value is parsed and which operators make sense."""

    STRING = "string"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    DATE = "date"
    ENUM = "enum"
    UUID = "uuid"


_UNORDERED_KINDS = frozenset({FieldKind.BOOLEAN, FieldKind.ENUM, FieldKind.UUID})


@dataclass(frozen=True)
class QueryField:
    """A filterable/sortable API field and the column behind it.

    ENUM columns hold full proto names (`REGION_WEST`); `enum_prefix` ("REGION_")
    lets callers write `WEST` or `"west"`; `enum_values`, when given, rejects typos.
    """

    column: Any  # ColumnElement or InstrumentedAttribute
    kind: FieldKind
    enum_prefix: str = ""
    enum_values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SortKey:
    """One ORDER BY key, including the id tiebreaker; `name` is the API field."""

    name: str
    column: Any
    kind: FieldKind
    descending: bool


_LITERAL_TYPES: dict[FieldKind, tuple[tuple[type, ...], str]] = {
    FieldKind.STRING: ((str,), "a quoted string"),
    FieldKind.ENUM: ((str,), "an enum value name"),
    FieldKind.BOOLEAN: ((bool,), "true or false"),
    FieldKind.INTEGER: ((int,), "an integer"),
    FieldKind.DECIMAL: ((int, Decimal), "a number"),
}
_KEY_TYPES: dict[FieldKind, type | tuple[type, ...]] = {
    FieldKind.STRING: str,
    FieldKind.ENUM: str,
    FieldKind.INTEGER: int,
    FieldKind.DECIMAL: (int, float, Decimal),
    FieldKind.BOOLEAN: bool,
    FieldKind.TIMESTAMP: datetime,
    FieldKind.DATE: date,
    FieldKind.UUID: uuid.UUID,
}
_TEXT_FORMATS: dict[FieldKind, tuple[re.Pattern[str], str]] = {
    FieldKind.TIMESTAMP: (_TIMESTAMP, "an RFC 3339 timestamp like 2026-01-01T00:00:00Z"),
    FieldKind.DATE: (re.compile(r"\d{4}-\d\d-\d\d", re.A), "a date like 2026-01-31"),
    FieldKind.UUID: (_UUID, "a UUID"),
}


#: The whitelist of a resource: API field name -> column and kind.
Fields = Mapping[str, QueryField]


class _BadValue(Exception):
    """A filter value that does not fit its field; carries the description."""


#: Filters built by `filter_condition`, by field set and text.
_FILTERS: Remembered[ColumnElement[bool] | None] = Remembered(1024)


def filter_condition(text: str, fields: Fields) -> ColumnElement[bool] | None:
    """`compile_filter(parse_filter(text), fields)`, remembered per field set and text.

    Callers send the same few filters over and over. Core expressions are
    immutable, so one serves every statement it is put in. A bad filter raises
    each time.
    """
    return _FILTERS.get(fields, text, lambda: compile_filter(flt.parse_filter(text), fields))


def compile_filter(node: flt.Node | None, fields: Fields) -> ColumnElement[bool] | None:
    """Translate a parsed filter into a WHERE clause over whitelisted `fields`."""
    return None if node is None else _compile(node, fields)


def _compile(node: flt.Node, fields: Fields) -> ColumnElement[bool]:
    if isinstance(node, flt.Comparison):
        return _compile_comparison(node, fields)
    if isinstance(node, flt.And):
        return sa.and_(*(_compile(item, fields) for item in node.items))
    if isinstance(node, flt.Or):
        return sa.or_(*(_compile(item, fields) for item in node.items))
    return sa.not_(_compile(node.item, fields))


def _compile_comparison(node: flt.Comparison, fields: Fields) -> ColumnElement[bool]:
    field = fields.get(node.field)
    if field is None:
        names = ", ".join(sorted(fields))
        raise flt.filter_error(f"unknown field {node.field!r} (filterable: {names})", node.position)
    if node.op in _ORDERED_OPS and field.kind in _UNORDERED_KINDS:
        message = f"operator {node.op} is not allowed on {field.kind.value} field {node.field!r}"
        raise flt.filter_error(message, node.position)
    column = _clause(field.column)
    try:
        value = _bind_value(_filter_value(field, node.value), field.kind, column)
    except _BadValue as e:
        where = node.value_position if node.value_position is not None else node.position
        raise flt.filter_error(f"{e} for field {node.field!r}", where) from None
    return _null_safe(column, _apply(column, field.kind, node.op, value), node.op)


def _apply(column: Any, kind: FieldKind, op: str, value: Any) -> ColumnElement[bool]:
    if op == ":" and kind is FieldKind.STRING:
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return sa.func.lower(column).like(sa.func.lower(f"%{escaped}%"), escape="\\")
    return _OPERATORS[op](column, value)


def _null_safe(column: Any, clause: ColumnElement[bool], op: str) -> ColumnElement[bool]:
    """NULL matches `!=` only (not SQL's NULL result), so NOT is an exact complement."""
    if not getattr(column, "nullable", True):
        return clause
    if op == "!=":
        return sa.or_(column.is_(None), clause)
    return sa.and_(column.is_not(None), clause)


def _filter_value(field: QueryField, value: Any) -> Any:
    """Check the literal's type against the field kind and parse strings."""
    kind = field.kind
    if isinstance(value, flt.Identifier) and kind in (FieldKind.STRING, FieldKind.ENUM):
        value = value.name
    types, expected = _LITERAL_TYPES.get(kind, ((str,), f"a quoted {kind.value} string"))
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise _BadValue(f"expected {expected}")
    if kind is FieldKind.ENUM:
        return _enum_name(field, cast(str, value))  # _LITERAL_TYPES: enums take strings
    return _parse_text(cast(str, value), kind) if kind in _TEXT_FORMATS else value


def _enum_name(field: QueryField, value: str) -> str:
    name = value.upper()
    if not name.startswith(field.enum_prefix):
        name = field.enum_prefix + name
    if field.enum_values and name not in field.enum_values:
        allowed = ", ".join(sorted(field.enum_values))
        raise _BadValue(f"unknown value {value!r}; expected one of {allowed}")
    return name


def _parse_text(text: str, kind: FieldKind) -> Any:
    """TIMESTAMP (RFC 3339), DATE (YYYY-MM-DD) and UUID literals."""
    pattern, expected = _TEXT_FORMATS[kind]
    match = pattern.fullmatch(text)
    try:
        if match is None:
            raise ValueError(text)
        if kind is FieldKind.DATE:
            return date.fromisoformat(text)
        if kind is FieldKind.UUID:
            return uuid.UUID(text)
        day, time, fraction, offset = match.groups()
        micros = f".{(fraction or '')[:6]:0<6}"  # datetime holds microseconds only
        zone = "+00:00" if offset in ("Z", "z") else offset
        return datetime.fromisoformat(f"{day}T{time}{micros}{zone}").astimezone(UTC)
    except (ValueError, OverflowError):
        raise _BadValue(f"expected {expected}") from None


def _clause(column: Any) -> Any:
    """The Core column behind an ORM attribute (it carries `.type`/`.nullable`)."""
    getter = getattr(column, "__clause_element__", None)
    return getter() if getter is not None else column


def _base_type(column: Any) -> sa.types.TypeEngine[Any]:
    kind: sa.types.TypeEngine[Any] = column.type
    while isinstance(kind, sa.TypeDecorator):
        kind = kind.impl_instance
    return kind


def _bind_value(value: Any, kind: FieldKind, column: Any) -> Any:
    """Shape a checked value like the column's Python type (float, naive datetime)."""
    if kind is FieldKind.TIMESTAMP:
        column_type = _base_type(column)
        naive = isinstance(column_type, sa.DateTime) and not column_type.timezone
        return utc(value).replace(tzinfo=None) if naive else utc(value)
    if kind is FieldKind.DECIMAL:
        value = value if isinstance(value, Decimal) else Decimal(str(value))
        if len(value.as_tuple().digits) > _MAX_DIGITS or not value.is_finite():
            raise _BadValue("number has too many digits")
        return float(value) if isinstance(_base_type(column), sa.Float) else value
    if kind is FieldKind.INTEGER:
        bits = _integer_bits(_base_type(column))
        if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
            raise _BadValue(f"integer out of {bits}-bit range")
    return value


def _integer_bits(column_type: sa.types.TypeEngine[Any]) -> int:
    if isinstance(column_type, sa.SmallInteger):
        return 16
    return 32 if type(column_type) in (sa.Integer, sa.INTEGER) else 64


def sort_keys(terms: Sequence[OrderTerm], fields: Fields, id_column: Any) -> list[SortKey]:
    """The terms plus the id tiebreaker (direction of the last term), unless id is sorted on."""
    keys: list[SortKey] = []
    for term in terms:
        field = fields.get(term.field)
        if field is None:
            raise order_by_error(f"cannot sort by {term.field!r}")
        keys.append(SortKey(term.field, field.column, field.kind, term.descending))
    id_clause = _clause(id_column)
    if not any(_clause(key.column).shares_lineage(id_clause) for key in keys):
        descending = keys[-1].descending if keys else False
        keys.append(SortKey("id", id_column, _id_kind(id_clause), descending))
    return keys


def _id_kind(column: Any) -> FieldKind:
    column_type = _base_type(column)
    if isinstance(column_type, sa.Uuid):
        return FieldKind.UUID
    return FieldKind.INTEGER if isinstance(column_type, sa.Integer) else FieldKind.STRING


def build_order(
    terms: Sequence[OrderTerm], fields: Fields, id_column: Any
) -> list[ColumnElement[Any]]:
    """ORDER BY clauses; the id tiebreaker makes the order total, as keyset paging needs."""
    keys = sort_keys(terms, fields, id_column)
    return [key.column.desc() if key.descending else key.column.asc() for key in keys]


def keyset_after(terms: Sequence[OrderTerm], fields: Fields, id_column: Any) -> ColumnElement[bool]:
    """Rows strictly after the page token's values, given as the bound parameters that
    `keyset_params` names: one statement serves every token of a query.

    Expanded to `(a > x) OR (a = x AND b < y) OR ...` rather than a row-value
    comparison, because mixed asc/desc directions cannot use one tuple compare.
    """
    keys = sort_keys(terms, fields, id_column)
    branches = []
    for i, key in enumerate(keys):
        ties = [k.column == sa.bindparam(f"after_{j}") for j, k in enumerate(keys[:i])]
        branches.append(sa.and_(*ties, _after(key, i)))
    return sa.or_(*branches)


def keyset_params(
    terms: Sequence[OrderTerm], fields: Fields, id_column: Any, last_values: Sequence[Any]
) -> dict[str, Any]:
    """The parameters of `keyset_after` for a token's values; InvalidArgument if they
    do not fit the sort keys."""
    keys = sort_keys(terms, fields, id_column)
    try:
        values = [
            _bind_value(_checked(value, key.kind), key.kind, _clause(key.column))
            for key, value in zip(keys, last_values, strict=True)
        ]
    except (_BadValue, ValueError, ArithmeticError):  # zip(strict=True) raises ValueError
        raise page_token_error("page token does not fit the sort order") from None
    params = {f"after_{i}": value for i, value in enumerate(values)}
    for i, key in enumerate(keys):
        if key.kind is FieldKind.BOOLEAN:
            params[f"after_{i}_open"] = values[i] == key.descending
    return params


def _checked(value: Any, kind: FieldKind) -> Any:
    expected = _KEY_TYPES[kind]
    if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
        raise _BadValue(f"expected a {kind.value} value")
    return value


def _after(key: SortKey, i: int) -> ColumnElement[bool]:
    """Strictly after parameter `after_{i}`. SQLAlchemy allows only = on booleans
    (false < true): after false ascending comes true, after true descending false,
    after the other two nothing, as parameter `after_{i}_open` says."""
    column: ColumnElement[Any] = key.column
    if key.kind is FieldKind.BOOLEAN:
        return sa.and_(
            sa.bindparam(f"after_{i}_open", type_=sa.Boolean), column == (not key.descending)
        )
    value: sa.BindParameter[Any] = sa.bindparam(f"after_{i}")
    after: ColumnElement[bool] = column < value if key.descending else column > value
    return after


def key_values(row: Any, keys: Sequence[SortKey]) -> list[Any]:
    """The sort-key values of a fetched ORM object or Row, for the next page token."""
    return [getattr(row, key.column.key) for key in keys]


def page_token_error(description: str) -> InvalidArgument:
    return InvalidArgument(
        f"invalid page_token: {description}",
        violations=[FieldViolation("page_token", description, "INVALID_PAGE_TOKEN")],
        reason="INVALID_PAGE_TOKEN",
    )


def query_fingerprint(*parts: str) -> str:
    """Short digest of everything a token depends on (filter, order_by, parent, ...)."""
    encoded = json.dumps([str(part) for part in parts], separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


def _checksum(fingerprint: str, values: list[Any]) -> str:
    """Catches edited tokens; not a secret MAC, so values are still type-checked."""
    payload = _SORTED_JSON.encode([fingerprint, values])
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value) if isinstance(value, float | Decimal | uuid.UUID) else value  # exact


def encode_page_token(values: Sequence[Any], fingerprint: str) -> str:
    """Opaque url-safe token for the page after the row whose sort keys are `values`."""
    plain = [_to_json(value) for value in values]
    body = {"f": fingerprint, "v": plain, "c": _checksum(fingerprint, plain)}
    raw = _TOKEN_JSON.encode(body).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, fingerprint: str, kinds: Sequence[FieldKind]) -> list[Any]:
    """Values of a token from `encode_page_token`; InvalidArgument if bad or foreign."""
    try:
        if len(token) > MAX_PAGE_TOKEN_LENGTH:
            raise ValueError("token too long")
        body = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
        plain, stored = body["v"], body["f"]
        if not isinstance(plain, list) or body["c"] != _checksum(stored, plain):
            raise ValueError("checksum mismatch")
        if stored != fingerprint:
            raise page_token_error(
                "page token was issued for a different filter, order_by, show_deleted or parent"
            )
        return [_from_json(value, kind) for value, kind in zip(plain, kinds, strict=True)]
    except (_BadValue, ValueError, TypeError, KeyError, ArithmeticError, RecursionError):
        raise page_token_error("page token is malformed") from None


def _from_json(value: Any, kind: FieldKind) -> Any:
    parse = _FROM_JSON.get(kind)
    return _checked(parse(value) if parse and isinstance(value, str) else value, kind)


_FROM_JSON: dict[FieldKind, Any] = {
    FieldKind.DECIMAL: Decimal,  # NaN/Infinity are refused by keyset_params
    FieldKind.TIMESTAMP: lambda text: utc(datetime.fromisoformat(text)),
    FieldKind.DATE: date.fromisoformat,
    FieldKind.UUID: uuid.UUID,
}


def clamp_page_size(requested: int, default: int = 50, maximum: int = 1000) -> int:
    """0 means the default, larger values are coerced down, negatives are refused."""
    if requested < 0:
        raise InvalidArgument(
            "page_size must not be negative",
            violations=[FieldViolation("page_size", "must not be negative", "INVALID_PAGE_SIZE")],
        )
    return default if requested == 0 else min(requested, maximum)
