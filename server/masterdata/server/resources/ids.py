"""Parsing of resource ids and request ids (UUID strings)."""

from __future__ import annotations

import uuid

from masterdata.server.domain.errors import FieldViolation, InvalidArgument


def parse_id(value: str, field: str = "id") -> uuid.UUID:
    """A UUID, or INVALID_ARGUMENT naming `field`."""
    try:
        if len(value) > 45:
            raise ValueError(value)
        return uuid.UUID(value)
    except ValueError:
        shown = value[:40] + ("…" if len(value) > 40 else "")
        raise InvalidArgument(
            f"{field} {shown!r} is not a UUID",
            violations=[FieldViolation(field, "must be a UUID", "INVALID_ID")],
        ) from None


def parse_request_id(value: str, field: str = "request_id") -> str:
    """The canonical form of an optional request_id ('' when not given)."""
    return str(parse_id(value, field)) if value else ""
