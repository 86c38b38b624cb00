"""Parser for the `order_by` of List requests: `"name desc, create_time"` (AIP-132).

Pure: the caller passes the whitelist of sortable fields, so an unknown or
repeated field is rejected here with a message that lists the allowed ones.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.domain.filtering import NAME_PATTERN

MAX_ORDER_BY_LENGTH = 1024
_WORD = re.compile(r"\S+")
_DIRECTIONS = {"asc": False, "desc": True}


@dataclass(frozen=True)
class OrderTerm:
    """One sort key; `descending` is False for `asc` (the default)."""

    field: str
    descending: bool = False


def order_by_error(description: str) -> InvalidArgument:
    """The one shape of a bad-order_by error."""
    return InvalidArgument(
        f"invalid order_by: {description}",
        violations=[FieldViolation("order_by", description, "INVALID_ORDER_BY")],
        reason="INVALID_ORDER_BY",
    )


def parse_order_by(text: str | None, allowed: Collection[str]) -> list[OrderTerm]:
    """Parse `text` into sort terms; [] when empty; InvalidArgument when bad."""
    if text is None or not text.strip():
        return []
    if len(text) > MAX_ORDER_BY_LENGTH:
        raise order_by_error(f"order_by is longer than {MAX_ORDER_BY_LENGTH} characters")
    terms: list[OrderTerm] = []
    offset = 0
    for part in text.split(","):
        term = _parse_term(part, offset, allowed)
        if any(t.field == term.field for t in terms):
            raise order_by_error(f"field {term.field!r} appears twice")
        terms.append(term)
        offset += len(part) + 1
    return terms


def _parse_term(part: str, offset: int, allowed: Collection[str]) -> OrderTerm:
    """One comma-separated item: `field` or `field asc|desc`."""
    words = list(_WORD.finditer(part))
    if not words:
        raise order_by_error(f"empty sort term at position {offset}")
    if len(words) > 2:
        position = offset + words[2].start()
        raise order_by_error(f"expected ',' or the end at position {position}")
    field = words[0].group()
    if NAME_PATTERN.fullmatch(field) is None:
        position = offset + words[0].start()
        raise order_by_error(f"expected a field name at position {position}")
    if field not in allowed:
        names = ", ".join(sorted(allowed))
        raise order_by_error(f"cannot sort by {field!r}; sortable fields: {names}")
    descending = False
    if len(words) == 2:
        direction = _DIRECTIONS.get(words[1].group().lower())
        if direction is None:
            position = offset + words[1].start()
            raise order_by_error(f"expected 'asc' or 'desc' at position {position}")
        descending = direction
    return OrderTerm(field, descending)
