"""An input row -> the column values it sets, or the one error that rejects it.

File rows set the columns their header has (an empty cell sets the column's
empty value or default); a Commodity message sets every writable field, as a
whole commodity. The values are checked later, once merged with what is stored
(`finalise`), with the same required fields, validator and deriver as
CreateCommodity and UpdateCommodity.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import inspect

from masterdata.server.bulk.cells import CellError, parser_for
from masterdata.server.bulk.columns import BY_FIELD, Header, Kind
from masterdata.server.bulk.sources import FileRow, MessageRow
from masterdata.server.bulk.value_keys import KeyedMemo, getter
from masterdata.server.bulk.varieties import parse_cell as parse_varieties
from masterdata.server.domain.commodities import check_codes, json_size, validate_commodity
from masterdata.server.domain.errors import FieldViolation, ViolationCollector
from masterdata.server.domain.text import message_violations
from masterdata.server.families.commodities.specs import COMMODITY
from masterdata.server.memos import IdentityMemo
from masterdata.server.resources.codec import codec_for
from masterdata.server.resources.spec import ResourceSpec
from masterdata.server.storage.models.commodity import CommodityRow

SPEC: ResourceSpec = COMMODITY
CODEC = codec_for(SPEC)
WRITABLE: tuple[str, ...] = tuple(sorted(CODEC.writable_fields))
#: Distinct cell texts remembered per column of one import.
MEMO_SIZE = 1024
_UNSEEN = object()


#: What SPEC's checks found (violations, codes aside) and SPEC.derive's values.
Checks = tuple[tuple[FieldViolation, ...], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class _Shape:
    """The converted values of a row shape's cells, and their checks as a new commodity."""

    values: dict[str, Any]
    checks: Checks
    #: The shape's rows as new commodities but for their own cells (DEFAULTS, values,
    #: derived), when its checks passed; None otherwise.
    create: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RowFailure:
    """One rejected row, as ImportRowError reports it."""

    number: int
    field: str
    reason: str
    message: str


@dataclass(slots=True)
class Candidate:
    """The values one row sets, before they are merged and checked.

    A file row of a known shape keeps its own values apart from its shape's, which
    its shape's other rows share: most rows never need them merged (`values`).
    """

    number: int
    #: The values the row sets but `shared`'s.
    own: dict[str, Any]
    id: uuid.UUID | None = None
    #: The row checked as a new commodity (DEFAULTS | values), when done in advance.
    as_create: dict[str, Any] | RowFailure | None = None
    #: The variety names of its Varieties cell (bulk/varieties.py).
    varieties: tuple[str, ...] = ()
    #: SPEC's memoised checks of its values as a new commodity, when known in advance.
    checks: Checks | None = None
    #: The values of the row's shape, never changed (None: `own` are all its values).
    shared: Mapping[str, Any] | None = None
    #: The (lower(name), category) the live-uniqueness rule compares.
    key: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        name, category = self._get("name"), self._get("category")
        self.key = (str(name or "").lower(), str(category or ""))

    def _get(self, name: str) -> Any:
        if name in self.own or self.shared is None:
            return self.own.get(name)
        return self.shared.get(name)

    @property
    def values(self) -> dict[str, Any]:
        """Every value the row sets (a new dict only for a row with shared values)."""
        return {**self.shared, **self.own} if self.shared else self.own


def _defaults() -> dict[str, Any]:
    """What the table stores for a writable field a create does not set."""
    values: dict[str, Any] = {}
    for column in inspect(CommodityRow).columns:
        if column.key not in CODEC.writable_fields:
            continue
        default = column.default
        if default is None:
            values[column.key] = None
        elif default.is_callable:
            values[column.key] = default.arg(None)  # type: ignore[attr-defined]
        else:
            values[column.key] = default.arg  # type: ignore[attr-defined]
    return values


DEFAULTS = _defaults()


def failure(number: int, violations: Sequence[FieldViolation]) -> RowFailure:
    """One row error naming the first bad field; the message lists them all."""
    first = violations[0]
    message = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return RowFailure(number, first.field, first.reason or "INVALID", message)


class FileConverter:
    """Cells of a file row -> values, with one parser per known header column."""

    def __init__(self, header: Header) -> None:
        # With each parser, a memo of the values its texts gave: most cells of a
        # file repeat (empty cells, units, currencies, flags, documents), so a
        # dict lookup replaces most parser calls. Values are shared between rows
        # and never mutated after conversion; cells that fail are not memoised.
        self._parsers = [
            (index, column.field, parse, {"": parse("")})
            for index, column in header.positions
            if column.field != "id"
            for parse in (parser_for(column),)
        ]
        ids = [(i, parser_for(c)) for i, c in header.positions if c.field == "id"]
        self._id = ids[0] if ids else None
        self._varieties = header.varieties
        # A row's shape: the texts of its cells other than its own (UNCHECKED). Rows
        # of a file repeat few shapes, so each is converted and checked once.
        self._own = [p for p in self._parsers if p[1] in UNCHECKED]
        self._shared = [p for p in self._parsers if p[1] not in UNCHECKED]
        self._texts = getter([index for index, *_ in self._shared])
        self._width = 1 + max((p[0] for p in self._parsers), default=-1)
        self._shapes: dict[tuple[str, ...], _Shape | None] = {}

    def convert(self, row: FileRow) -> Candidate | RowFailure:
        """The row's values; most rows from their shape's, with only their own cells parsed."""
        cells = row.cells
        if len(cells) < self._width:
            return self._convert(row)
        texts = self._texts(cells)
        shape = self._shapes.get(texts, _UNSEEN)
        if shape is _UNSEEN:
            if len(self._shapes) >= MEMO_SIZE:
                self._shapes.clear()
            shape = self._shapes[texts] = self._shape(texts)
        if shape is None:
            return self._convert(row)
        assert isinstance(shape, _Shape)
        values: dict[str, Any] = {}
        for index, name, parse, memo in self._own:
            text = cells[index]
            value = memo.get(text, _UNSEEN)
            if value is _UNSEEN:
                try:
                    value = parse(text)
                except CellError:
                    return self._convert(row)  # the rest of its errors too, in column order
                if len(memo) < MEMO_SIZE:
                    memo[text] = value
            values[name] = value
        if self._id is None and self._varieties is None:
            candidate = Candidate(row.number, values, checks=shape.checks, shared=shape.values)
            if shape.create is not None:
                candidate.as_create = _as_create(candidate, shape.create)
            return candidate
        found = self._convert(row)
        if isinstance(found, Candidate):
            found.checks = shape.checks
        return found

    def _shape(self, texts: tuple[str, ...]) -> _Shape | None:
        """The values of a shape's cells and their checks; None if a cell fails."""
        values: dict[str, Any] = {}
        for text, (_, name, parse, memo) in zip(texts, self._shared, strict=True):
            value = memo.get(text, _UNSEEN)
            if value is _UNSEEN:
                try:
                    value = parse(text)
                except CellError:
                    return None
                if len(memo) < MEMO_SIZE:
                    memo[text] = value
            values[name] = value
        checks = _check(DEFAULTS | values)
        violations, derived = checks
        if violations or not derived.keys().isdisjoint(UNCHECKED):
            return _Shape(values, checks)
        return _Shape(values, checks, DEFAULTS | values | derived)

    def _convert(self, row: FileRow) -> Candidate | RowFailure:
        """Every cell parsed; every failing cell reported, in column order."""
        cells, size = row.cells, len(row.cells)
        values: dict[str, Any] = {}
        violations: list[FieldViolation] = []
        for index, name, parse, memo in self._parsers:
            text = cells[index] if index < size else ""
            value = memo.get(text, _UNSEEN)
            if value is _UNSEEN:
                try:
                    value = parse(text)
                except CellError as error:
                    violations.append(FieldViolation(name, error.message, error.reason))
                    continue
                if len(memo) < MEMO_SIZE:
                    memo[text] = value
            values[name] = value
        key = None
        if self._id is not None:
            index, parse_id = self._id
            try:
                key = parse_id(cells[index] if index < size else "")
            except CellError as error:
                violations.insert(0, FieldViolation("id", error.message, error.reason))
        names: tuple[str, ...] = ()
        if self._varieties is not None and self._varieties < size and cells[self._varieties]:
            try:
                names = parse_varieties(cells[self._varieties])
            except CellError as error:
                violations.append(FieldViolation("varieties", error.message, error.reason))
        if violations:
            return failure(row.number, violations)
        return Candidate(row.number, values, key, varieties=names)


def convert_message(row: MessageRow) -> Candidate | RowFailure:
    """A Commodity message -> values of every writable field (the codec's conversion)."""
    violations = ViolationCollector(violations=message_violations(row.message))
    values = CODEC.to_values(row.message, WRITABLE, violations)
    key = None
    if row.message.id:
        try:
            key = uuid.UUID(row.message.id) if len(row.message.id) <= 45 else uuid.UUID("x")
        except ValueError:
            violations.violations.insert(0, FieldViolation("id", "must be a UUID", "INVALID_ID"))
    if violations.violations:
        return failure(row.number, violations.violations)
    return Candidate(row.number, values, key)


#: json_size once per document object: a file's rows share their parsed documents.
_document_sizes = IdentityMemo(json_size)
_CODES = ("hsn_code", "hs_code_6digit")
_NO_CODES = dict.fromkeys(_CODES, "")


#: What a required field must not be.
_EMPTY: tuple[Any, ...] = (None, "", [], {})


def finalise(
    number: int, merged: Mapping[str, Any], checks: Checks | None = None, *, own: bool = False
) -> dict[str, Any] | RowFailure:
    """Required fields, the commodity validator and deriver over a merged candidate.

    `checks`: those of `merged` already made (they do not depend on UNCHECKED fields).
    `own`: `merged` is a dict of the caller's own, which becomes the result (no copy).
    """
    violations = [
        FieldViolation(name, "is required", "REQUIRED")
        for name in SPEC.required
        if merged.get(name) in _EMPTY
    ]
    # validate_commodity checks the codes first: so here, outside the shape's checks.
    codes = _code_violations(merged.get("hsn_code"), merged.get("hs_code_6digit"))
    checked, derived = checks if checks is not None else _checks(merged)
    if violations or codes or checked:
        return failure(number, [*violations, *codes, *checked])
    final = merged if own and isinstance(merged, dict) else dict(merged)
    final.update(derived)
    return final


def _as_create(candidate: Candidate, create: dict[str, Any]) -> dict[str, Any] | RowFailure:
    """`finalise(number, DEFAULTS | values, checks)` of a row whose shape's checks passed.

    Why: most rows of a file create, and all but their own cells are their shape's;
    so the shape's checked and derived values (`create`) are copied, the row's own
    values set, and only what reads those is checked here. The derived values are
    none of the own ones (`_Shape`), so the result is the same dict finalise makes;
    a row that fails goes through finalise itself, for the same error.
    """
    final = create.copy()
    final.update(candidate.own)
    for name in SPEC.required:
        if final.get(name) in _EMPTY:
            return finalise(
                candidate.number, DEFAULTS | candidate.values, candidate.checks, own=True
            )
    if _code_violations(final.get("hsn_code"), final.get("hs_code_6digit")):
        return finalise(candidate.number, DEFAULTS | candidate.values, candidate.checks, own=True)
    return final


@lru_cache(maxsize=16384)  # about the number of HSN codes there are
def _code_violations(hsn: Any, hs6: Any) -> tuple[FieldViolation, ...]:
    violations = ViolationCollector()
    check_codes({"hsn_code": hsn, "hs_code_6digit": hs6}, violations)
    return tuple(violations.violations)


#: The fields the memoised checks do not read (a unit test holds them to it): the
#: row's own texts and codes, which would make most rows' keys new ones.
UNCHECKED = frozenset({"name", "category", "description", *_CODES})


def _check(merged: Mapping[str, Any]) -> Checks:
    """SPEC.validate's violations but the codes', and SPEC.derive's values."""
    violations = ViolationCollector()
    validate_commodity({**merged, **_NO_CODES}, violations, measure=_document_sizes)
    if violations.violations or SPEC.derive is None:
        return tuple(violations.violations), {}
    return (), SPEC.derive(merged)


def _memo_of_checks() -> KeyedMemo[Checks]:
    """The checks once per distinct set of the values they read: rows repeat them."""
    checked = [name for name in WRITABLE if name not in UNCHECKED]
    kinds = {name: BY_FIELD[name].kind for name in checked}
    lists = [name for name in checked if kinds[name] is Kind.LIST]
    documents = [name for name in checked if kinds[name] is Kind.JSON]
    plain = [name for name in checked if name not in lists and name not in documents]
    return KeyedMemo(_check, plain=plain, lists=lists, documents=documents)


_checks = _memo_of_checks()
