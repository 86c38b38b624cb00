"""Get, BatchGet and List of one resource: the lean read path, written once.

Why (profiled with bench/commodity_reads.py): through an ORM session a Get cost
three round trips on PostgreSQL (BEGIN, SELECT, ROLLBACK) plus the ORM's per-call
machinery (session, identity map, instance state). Get and BatchGet now read whole
rows by id through `Database.rows` (one prepared statement, one round trip; see
storage/postgres/rows.py); the rows carry the same columns with the same type processing,
and the codec reads them by attribute name just like ORM objects, so responses are
identical. Writes keep the ORM and the unit of work.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from masterdata.server.domain.errors import InvalidArgument, NotFound
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.codec import codec_for
from masterdata.server.resources.ids import parse_id
from masterdata.server.resources.listing import ListRequest, list_page
from masterdata.server.resources.rendered import Rendered, RenderedMessages
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.spec import ResourceSpec
from masterdata.server.resources.wire import PageFields, page_reply
from masterdata.server.storage.errors import translate_errors


@dataclass(frozen=True)
class Page:
    """One page of a List call, its items as rendered (shared, never to be changed)."""

    rendered: list[Rendered]
    next_page_token: str

    @property
    def items(self) -> list[Message]:
        return [item.message for item in self.rendered]

    def reply(self, fields: PageFields) -> bytes:
        """The page as its response message serialized, written from its items' bytes."""
        return page_reply(fields, [item.wire() for item in self.rendered], self.next_page_token)


class ResourceReads:
    """The read half of Resources."""

    def __init__(self, runtime: Runtime, spec: ResourceSpec) -> None:
        self.runtime = runtime
        self.spec = spec
        self.codec = codec_for(spec)
        self._table = spec.model.__table__
        self._rendered = RenderedMessages(runtime.settings.render_cache_size)

    def not_found(self, keys: Sequence[Any], *, batch: bool = False) -> NotFound:
        shown = ", ".join(str(k) for k in keys[:10])
        return NotFound(
            f"{self.spec.name} not found: {shown}",
            reason=f"{self.spec.name.upper()}_NOT_FOUND",
            metadata={"ids" if batch else "id": ",".join(str(k) for k in keys[:50])},
        )

    async def get(self, id_: str, caller: Caller) -> Rendered:
        key = parse_id(id_)
        async with translate_errors():
            row = await self.runtime.db.rows.one(self._table, key, caller.time_left())
        if row is None:
            raise self.not_found([key])
        return self._render(row, caller.sees_sensitive)

    async def batch_get(self, ids: Sequence[str], caller: Caller) -> builtins.list[Rendered]:
        limit = self.runtime.settings.max_batch_size
        if len(ids) > limit:
            raise InvalidArgument(f"at most {limit} ids per call", reason="TOO_MANY_IDS")
        keys = [parse_id(value, f"ids[{i}]") for i, value in enumerate(ids)]
        if not keys:
            return []
        async with translate_errors():
            found = await self.runtime.db.rows.many(self._table, set(keys), caller.time_left())
        rows = {row.id: row for row in found}
        missing = [k for k in keys if k not in rows]
        if missing:
            raise self.not_found(missing, batch=True)
        revealed = caller.sees_sensitive
        return [self._render(rows[k], revealed) for k in keys]

    async def list(self, request: ListRequest, caller: Caller) -> Page:
        runtime, parent = self.runtime, self._list_scope(request)
        async with translate_errors():
            keyed, token = await list_page(
                runtime.db.rows, self.spec, request, runtime.settings, parent, caller.time_left()
            )
        return Page(await self.render_keyed(keyed, caller), token)

    def _render(self, row: Any, revealed: bool) -> Rendered:
        return self._rendered.get(
            row, revealed, lambda: self.codec.to_message(row, reveal=revealed)
        )

    async def render_keyed(
        self, keyed: Sequence[Any], caller: Caller
    ) -> builtins.list[Rendered]:  # `list` is a method in this class body
        """The messages of rows known by id and revision, in their order.

        Rendered revisions are taken as they are; the other rows are read by id in
        one query, so such a row changed since its key was read comes as it is now,
        and one removed since (a force delete) is left out of the page.
        """
        revealed = caller.sees_sensitive
        known = self._rendered.known
        items: list[Rendered | None] = [known(row.id, row.revision, revealed) for row in keyed]
        missing = [row.id for row, item in zip(keyed, items, strict=True) if item is None]
        if missing:
            async with translate_errors():
                found = await self.runtime.db.rows.many(self._table, missing, caller.time_left())
            rows = {row.id: row for row in found}
            for i, row in enumerate(keyed):
                if items[i] is None and row.id in rows:
                    items[i] = self._render(rows[row.id], revealed)
        return [item for item in items if item is not None]

    def _list_scope(self, request: ListRequest) -> uuid.UUID | None:
        """The parent a child resource's List is narrowed to (None: the whole collection)."""
        if self.spec.parent is None or not request.parent_id:
            return None
        return parse_id(request.parent_id, self.spec.parent.field)
