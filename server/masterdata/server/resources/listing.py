"""List calls: AIP-160 filter, order_by and keyset page tokens over one resource."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, bindparam, select

from masterdata.server.config import Settings
from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.domain.ordering import OrderTerm, parse_order_by
from masterdata.server.memos import Remembered
from masterdata.server.repositories.query import (
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


#: Page statements by resource and (filter, order_by, show_deleted, page size, whether a
#: page token and a parent narrow it): their values are bound parameters, so one
#: statement, built and compiled once, serves every call of its shape.
_PAGES: Remembered[Select[Any]] = Remembered(1024)
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
    params: dict[str, Any] = {_PARENT: parent} if scoped else {}
    problems = ViolationCollector()
    page_size = problems.check(
        lambda: clamp_page_size(
            request.page_size, settings.default_page_size, settings.max_page_size
        ),
        settings.default_page_size,
    )
    condition, terms, keys, last = _parsed(spec, request, problems)
    problems.raise_if_any()
    if request.page_token:
        params.update(keyset_params(terms, spec.query_fields, spec.model.id, last))
    shape = (
        request.filter,
        request.order_by,
        request.show_deleted,
        page_size,
        bool(request.page_token),
        scoped,
    )
    stmt = _PAGES.get(
        spec, shape, lambda: _statement(spec, request, condition, terms, keys, page_size, scoped)
    )
    found = await rows.select(stmt, params, seconds_left)
    if len(found) <= page_size:
        return found, ""
    found = found[:page_size]
    return found, encode_page_token(key_values(found[-1], keys), _fingerprint(spec, request))


def _parsed(
    spec: ResourceSpec, request: ListRequest, problems: ViolationCollector
) -> tuple[ColumnElement[bool] | None, list[OrderTerm], list[SortKey], list[Any]]:
    """The filter, the sort terms and keys, and the page token's values; what is bad
    of filter, order_by and page_token goes to `problems`."""
    fields = spec.query_fields
    condition = problems.check(lambda: filter_condition(request.filter, fields), None)
    order_by = request.order_by or spec.default_order
    terms: list[OrderTerm] = problems.check(lambda: parse_order_by(order_by, fields.keys()), [])
    keys = sort_keys(terms, fields, spec.model.id)
    last: list[Any] = []
    if request.page_token:
        # A token is bound to its filter and order_by: with either bad, it is refused too.
        fingerprint = _fingerprint(spec, request)
        kinds = [k.kind for k in keys]
        last = problems.check(lambda: decode_page_token(request.page_token, fingerprint, kinds), [])
    return condition, terms, keys, last


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
