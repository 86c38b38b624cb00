"""List calls: AIP-160 filter, order_by and keyset page tokens over one resource."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncConnection

from masterdata.server.config import Settings
from masterdata.server.domain.filtering import parse_filter
from masterdata.server.domain.ordering import parse_order_by
from masterdata.server.repositories.query import (
    build_order,
    clamp_page_size,
    compile_filter,
    decode_page_token,
    encode_page_token,
    key_values,
    keyset_predicate,
    query_fingerprint,
    sort_keys,
)

if TYPE_CHECKING:
    from masterdata.server.resources.spec import ResourceSpec


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
    conn: AsyncConnection,
    spec: ResourceSpec,
    request: ListRequest,
    settings: Settings,
    scope: Sequence[ColumnElement[bool]] = (),
) -> tuple[list[Any], str]:
    """One page of row keys and the token of the next page ('' on the last page).

    The rows carry only id, revision and the sort keys: a page is mostly rendered
    from messages already rendered for that (id, revision), and reading, sending
    and decoding whole rows (a commodity has ten JSON documents) cost more than
    the query itself. ResourceReads.render_keyed reads the rest by id.
    """
    model, fields = spec.model, spec.query_fields
    page_size = clamp_page_size(
        request.page_size, settings.default_page_size, settings.max_page_size
    )
    where: list[ColumnElement[bool]] = list(scope)
    condition = compile_filter(parse_filter(request.filter), fields)
    if condition is not None:
        where.append(condition)
    if not request.show_deleted:
        where.append(model.delete_time.is_(None))
    terms = parse_order_by(request.order_by or spec.default_order, fields.keys())
    keys = sort_keys(terms, fields, model.id)
    fingerprint = query_fingerprint(
        spec.name, request.filter, request.order_by, str(request.show_deleted), request.parent_id
    )
    if request.page_token:
        last = decode_page_token(request.page_token, fingerprint, [k.kind for k in keys])
        where.append(keyset_predicate(terms, fields, model.id, last))
    columns = {"id": model.id, "revision": model.revision}
    columns.update((key.column.key, key.column) for key in keys)
    stmt = (
        select(*columns.values())
        .where(*where)
        .order_by(*build_order(terms, fields, model.id))
        .limit(page_size + 1)
    )
    rows = list(await conn.execute(stmt))
    if len(rows) <= page_size:
        return rows, ""
    rows = rows[:page_size]
    return rows, encode_page_token(key_values(rows[-1], keys), fingerprint)
