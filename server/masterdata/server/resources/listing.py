"""List calls: AIP-160 filter, order_by and keyset page tokens over one resource."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, bindparam, select

from masterdata.server.config import Settings
from masterdata.server.domain.errors import InvalidArgument, ViolationCollector
from masterdata.server.domain.ordering import OrderTerm, parse_order_by
from masterdata.server.memos import Remembered
from masterdata.server.repositories.query import (
    FieldKind,
    SortKey,
    build_order,
    clamp_page_size,
    decode_page_token,
    encode_page_token,
    filter_condition,
    key_values,
    keyset_after,
    keyset_params,
    query_fingerprint,
    sort_keys,
)
from masterdata.server.storage.backend import RowReads

if TYPE_CHECKING:
    from masterdata.server.resources.spec import ResourceSpec


#: Queries by resource and shape (filter, order_by, show_deleted, page size, whether a
#: page token and a parent narrow it): every value that varies within a shape is a
#: bound parameter, so one statement, built and compiled once, serves all its calls.
_QUERIES: Remembered[_Query] = Remembered(1024)
#: The bound parameter of a child resource's parent id.
_PARENT = "parent"


@dataclass(frozen=True)
class ListRequest:
    """The standard List parameters (AIP-132, AIP-158, AIP-160)."""

    page_size: int = 0
    page_token: str = ""
    filter: str = ""
    order_by: str = ""
    show_deleted: bool = False
    parent_id: str = ""


@dataclass(frozen=True)
class _Query:
    """What one shape of List call compiles to."""

    statement: Select[Any]
    terms: list[OrderTerm]
    keys: list[SortKey]
    kinds: list[FieldKind]
    #: What its page tokens are bound to ('' when it depends on the parent id).
    fingerprint: str


async def list_page(
    rows: RowReads,
    spec: ResourceSpec,
    request: ListRequest,
    settings: Settings,
    parent: uuid.UUID | None,
    seconds_left: float | None,
) -> tuple[list[Any], str]:
    """One page of row keys and the token of the next page ('' on the last page).

    The rows carry only id, revision and the sort keys: a page is mostly rendered
    from messages already rendered for that (id, revision), and reading, sending
    and decoding whole rows (a commodity has ten JSON documents) cost more than
    the query itself. ResourceReads.render_keyed reads the rest by id. `parent`
    narrows a child resource's List to one parent's children.
    """
    scoped = parent is not None
    try:
        page_size = clamp_page_size(
            request.page_size, settings.default_page_size, settings.max_page_size
        )
        shape = (
            request.filter,
            request.order_by,
            request.show_deleted,
            page_size,
            bool(request.page_token),
            scoped,
        )
        query = _QUERIES.get(spec, shape, lambda: _query(spec, request, page_size, scoped))
        fingerprint = query.fingerprint or _fingerprint(spec, request)
        params: dict[str, Any] = {_PARENT: parent} if scoped else {}
        if request.page_token:
            last = decode_page_token(request.page_token, fingerprint, query.kinds)
            params |= keyset_params(query.terms, spec.query_fields, spec.model.id, last)
    except InvalidArgument:
        _check(spec, request, settings)  # every bad field of the request at once
        raise
    found = await rows.select(query.statement, params, seconds_left)
    if len(found) <= page_size:
        return found, ""
    found = found[:page_size]
    return found, encode_page_token(key_values(found[-1], query.keys), fingerprint)


def _query(spec: ResourceSpec, request: ListRequest, page_size: int, scoped: bool) -> _Query:
    """The statement, sort keys and token fingerprint of the request's shape;
    InvalidArgument for a bad filter or order_by."""
    fields = spec.query_fields
    condition = filter_condition(request.filter, fields)
    terms = parse_order_by(request.order_by or spec.default_order, fields.keys())
    keys = sort_keys(terms, fields, spec.model.id)
    statement = _statement(spec, request, condition, terms, keys, page_size, scoped)
    fingerprint = "" if scoped else _fingerprint(spec, request)
    return _Query(statement, terms, keys, [key.kind for key in keys], fingerprint)


def _check(spec: ResourceSpec, request: ListRequest, settings: Settings) -> None:
    """Raise InvalidArgument naming every bad field of page_size, filter, order_by and
    page_token (the path of a bad request; good ones are checked once per shape)."""
    problems = ViolationCollector()
    problems.check(
        lambda: clamp_page_size(
            request.page_size, settings.default_page_size, settings.max_page_size
        ),
        settings.default_page_size,
    )
    fields = spec.query_fields
    problems.check(lambda: filter_condition(request.filter, fields), None)
    order_by = request.order_by or spec.default_order
    terms: list[OrderTerm] = problems.check(lambda: parse_order_by(order_by, fields.keys()), [])
    keys = sort_keys(terms, fields, spec.model.id)
    if request.page_token:
        # A token is bound to its filter and order_by: with either bad, it is refused too.
        fingerprint = _fingerprint(spec, request)
        kinds = [k.kind for k in keys]
        last: list[Any] = problems.check(
            lambda: decode_page_token(request.page_token, fingerprint, kinds), []
        )
        problems.raise_if_any()
        keyset_params(terms, fields, spec.model.id, last)
    problems.raise_if_any()


def _fingerprint(spec: ResourceSpec, request: ListRequest) -> str:
    """What a page token is bound to: the query it continues."""
    return query_fingerprint(
        spec.name, request.filter, request.order_by, str(request.show_deleted), request.parent_id
    )


def _statement(
    spec: ResourceSpec,
    request: ListRequest,
    condition: ColumnElement[bool] | None,
    terms: Sequence[OrderTerm],
    keys: Sequence[SortKey],
    page_size: int,
    scoped: bool,
) -> Select[Any]:
    """The select of id, revision and the sort keys of one page (one row more, to see
    whether another page follows)."""
    model, fields = spec.model, spec.query_fields
    where: list[ColumnElement[bool]] = []
    if scoped:
        assert spec.parent is not None  # only child resources are scoped
        where.append(getattr(model, spec.parent.field) == bindparam(_PARENT))
    if request.page_token:
        where.append(keyset_after(terms, fields, model.id))
    if condition is not None:
        where.append(condition)
    if not request.show_deleted:
        where.append(model.delete_time.is_(None))
    columns = {"id": model.id, "revision": model.revision}
    columns.update((key.column.key, key.column) for key in keys)
    return (
        select(*columns.values())
        .where(*where)
        .order_by(*build_order(terms, fields, model.id))
        .limit(page_size + 1)
    )
