"""What makes one resource type special; everything else is the generic path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.repositories.query import QueryField

#: Checks a complete candidate (stored values overlaid with the request's changes).
Validator = Callable[[Mapping[str, Any], ViolationCollector], None]
#: Computes output-only columns (e.g. region from state_code) from a candidate.
Deriver = Callable[[Mapping[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ParentLink:
    """A child resource's reference to its parent (e.g. organization_id)."""

    field: str
    model: type[Any]


@dataclass(frozen=True)
class ChildLink:
    """Children soft-deleted with their parent by `Delete<Parent>(force=true)`."""

    spec: ResourceSpec
    field: str


@dataclass(frozen=True, eq=False)
class ResourceSpec:
    """Declarative description of a resource served by the generic path.

    `name` is the snake_case singular used everywhere: the request field
    (`location`), the event aggregate_type and the event-type prefix
    (`location.created`).
    """

    name: str
    message: type[Message]
    model: type[Any]
    query_fields: Mapping[str, QueryField]
    default_order: str = "create_time"
    required: tuple[str, ...] = ()
    output_only: frozenset[str] = frozenset()
    validate: Validator | None = None
    derive: Deriver | None = None
    parent: ParentLink | None = None
    #: Unique index name -> the field it protects, for ALREADY_EXISTS details.
    unique_fields: Mapping[str, str] = field(default_factory=dict)
    #: Field -> masking function, applied unless the caller may see sensitive data.
    masked: Mapping[str, Callable[[str], str]] = field(default_factory=dict)
    #: Children whose live rows block a Delete unless `force` (then deleted too).
    children: tuple[ChildLink, ...] = ()
    #: Whether Undelete restores the children a forced Delete took with it.
    undelete_restores_children: bool = False

    @property
    def resource_type(self) -> str:
        return self.message.DESCRIPTOR.full_name
