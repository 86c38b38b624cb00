"""Standard methods (AIP-131..135, 164, 231) written once for every resource.

Entity families subclass `Resources` and override the `_hooks` for what is
special about them (references, invariants, cascades); the bookkeeping — ids,
audit columns, etags, idempotency, uniqueness errors and events — lives here.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cached_property
from types import SimpleNamespace
from typing import Any, cast

from google.protobuf.message import Message
from sqlalchemy import Insert, Update, bindparam, insert, select, update

from masterdata.server.domain.errors import (
    Aborted,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    ViolationCollector,
)
from masterdata.server.repositories.generic import ResourceRepository
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.codec import etag_of
from masterdata.server.resources.idempotent import run_idempotent
from masterdata.server.resources.ids import parse_id
from masterdata.server.resources.reads import ResourceReads
from masterdata.server.resources.recording import pending_event
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.single_row import SingleRowWrites
from masterdata.server.resources.spec import ChildLink, ResourceSpec
from masterdata.server.storage.backend import count_live_children
from masterdata.server.storage.errors import UniqueViolation, translate_errors
from masterdata.server.storage.unit_of_work import UnitOfWork

#: Columns every write sets besides the changed fields (see `_touch`).
_TOUCHED = ("update_time", "updated_by", "revision")


#: The hooks that run inside the locking path's transaction: a resource that overrides
#: one of them writes on that path (resources/single_row.py says why).
TRANSACTION_HOOKS = (
    "_validate",
    "_after_create",
    "_after_update",
    "_before_delete",
    "_before_undelete",
)


class Resources(ResourceReads):
    """Create/Get/BatchGet/List/Update/Delete/Undelete of one resource type.

    A write that changes one row and runs no hook goes to the backend whole
    (`SingleRowWrites`); the others run in a unit of work that locks what it reads.
    """

    def __init__(self, runtime: Runtime, spec: ResourceSpec) -> None:
        super().__init__(runtime, spec)
        kind = type(self)
        hooks = {h for h in TRANSACTION_HOOKS if getattr(kind, h) is not getattr(Resources, h)}
        self._single_row = SingleRowWrites(self, hooks)

    # ---- writes ------------------------------------------------------------

    async def create(self, message: Message, caller: Caller) -> Message:
        """Create from `message`; with a request_id, a retry returns the first result."""
        violations = ViolationCollector(self.spec.name)
        values = self.codec.to_values(message, self.codec.populated_fields(message), violations)
        if self._single_row.creates:
            return self._as_seen(caller, await self._single_row.create(values, violations, caller))

        async def work(uow: UnitOfWork) -> Message:
            candidate = dict(values)
            await self._check(uow, candidate, violations, existing=None)
            written = candidate | self._audit(uow)
            async with self._unique_errors():
                created = (await uow.session.execute(self._insert, written)).mappings().one()
            row = SimpleNamespace(**created)
            await self._after_create(uow, row)
            return self.record(uow, row, "created")

        return await self._write_once(caller, work)

    async def update(self, message: Message, paths: Sequence[str], caller: Caller) -> Message:
        violations = ViolationCollector(self.spec.name)
        key = parse_id(cast(Any, message).id, f"{self.spec.name}.id")  # every resource has one
        fields = self._update_fields(message, paths)
        changes = self.codec.to_values(message, fields, violations)
        if self._single_row.updates:
            etag = message.etag  # type: ignore[attr-defined]
            written = await self._single_row.update(key, etag, changes, violations, caller)
            if written is not None:
                return self._as_seen(caller, written)

        async def work(uow: UnitOfWork) -> Message:
            etag = message.etag  # type: ignore[attr-defined]
            row = await self._live_row_for_write(uow, key, etag, as_values=True)
            current = {name: getattr(row, name) for name in self.codec.writable_fields}
            self.reject_parent_change(row, changes, violations)
            candidate = current | changes
            await self._check(uow, candidate, violations, existing=row)
            changed = self._apply(row, candidate)
            if not changed:
                return self.codec.to_message(row, reveal=True)
            self._touch(uow, row)
            written = {name: getattr(row, name) for name in (*changed, *_TOUCHED)}
            async with self._unique_errors():
                await uow.session.execute(self._update_by_id, {"where_id": row.id, **written})
            await self._after_update(uow, row, changed)
            return self.record(uow, row, "updated", changed)

        return await self._write_once(caller, work)

    async def delete(self, id_: str, etag: str, caller: Caller, *, force: bool = False) -> Message:
        key = parse_id(id_)
        if self._single_row.deletes:
            written = await self._single_row.delete(key, etag, caller, force=force)
            if written is not None:
                return self._as_seen(caller, written)

        async def work(uow: UnitOfWork) -> Message:
            row = await self._live_row_for_write(uow, key, etag, as_values=True)
            await self._before_delete(uow, row, force)
            row.delete_time = uow.now
            self._touch(uow, row)
            written = {name: getattr(row, name) for name in ("delete_time", *_TOUCHED)}
            async with translate_errors():
                await uow.session.execute(self._update_by_id, {"where_id": row.id, **written})
            return self.record(uow, row, "deleted")

        return await self._write_once(caller, work)

    async def undelete(self, id_: str, etag: str, caller: Caller) -> Message:
        key = parse_id(id_)
        if self._single_row.undeletes:
            written = await self._single_row.undelete(key, etag, caller)
            if written is not None:
                return self._as_seen(caller, written)

        async def work(uow: UnitOfWork) -> Message:
            row = await self.repository(uow).get(key, for_update=True)
            self.check_etag(row, etag)
            if row.delete_time is None:
                raise AlreadyExists(f"{self.spec.name} {key} is not deleted", reason="NOT_DELETED")
            await self._before_undelete(uow, row)
            row.delete_time = None
            self._touch(uow, row)
            async with self._unique_errors():
                await uow.session.flush()
            return self.record(uow, row, "undeleted")

        return await self._write_once(caller, work)

    async def _write_once(
        self, caller: Caller, work: Callable[[UnitOfWork], Awaitable[Message]]
    ) -> Message:
        """`work` in a committed transaction, at most once per idempotency key; the
        reply masked unless `caller` may see sensitive fields."""
        return self._as_seen(
            caller, await run_idempotent(self.runtime, caller, self.spec.message, work)
        )

    def _as_seen(self, caller: Caller, reply: Message) -> Message:
        """`reply` masked unless `caller` may see sensitive fields."""
        return reply if caller.sees_sensitive else self.codec.mask(reply)

    # ---- hooks for entity families -----------------------------------------

    async def _validate(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        """Checks that need the database (references, cross-row rules)."""

    async def _after_create(self, uow: UnitOfWork, row: Any) -> None:
        """Side effects of a create in the same transaction (e.g. demote a primary)."""

    async def _after_update(self, uow: UnitOfWork, row: Any, changed: list[str]) -> None:
        """Side effects of an update in the same transaction."""

    async def _before_delete(self, uow: UnitOfWork, row: Any, force: bool) -> None:
        """Refuse while live children exist, or with `force` soft-delete them too.

        The row is locked, and a child's create or undelete locks its parent first, so
        no child comes to life meanwhile: without `force`, counting them (one statement)
        is enough; with it, they are locked and read for their events.
        """
        if not self.spec.children:
            return
        if not force:
            counts = await self._live_child_counts(uow, row.id)
            live_counts = {link.spec.name: n for link, n in counts.items() if n}
            if live_counts:
                raise self.has_children(row, live_counts)
            return
        for link in self.spec.children:
            for child in await self._live_children(uow, link, row.id):
                child.delete_time = uow.now
                self._touch(uow, child)
                record_event(uow, link.spec, child, "deleted")

    def has_children(self, row: Any, live: Mapping[str, int]) -> FailedPrecondition:
        counts = ", ".join(f"{n} {name}" for name, n in live.items())
        return FailedPrecondition(
            f"{self.spec.name} {row.id} has live children ({counts}); "
            "delete them first or pass force",
            reason="HAS_CHILDREN",
            metadata={name: str(n) for name, n in live.items()},
        )

    async def _live_child_counts(self, uow: UnitOfWork, parent: uuid.UUID) -> dict[ChildLink, int]:
        """Live rows of each child type, counted in one statement."""
        links = self.spec.children
        tables = [(link.spec.model.__table__, link.field) for link in links]
        async with translate_errors():
            found = await count_live_children(uow.session, parent, tables)
        return dict(zip(links, found, strict=True))

    async def _before_undelete(self, uow: UnitOfWork, row: Any) -> None:
        """Refuse an undelete that would break an invariant (e.g. a deleted parent);
        restore the children deleted with the row when the spec says so."""
        if self.spec.parent is not None:
            await self._require_live_parent(uow, getattr(row, self.spec.parent.field))
        if self.spec.undelete_restores_children:
            await self._restore_children(uow, row)

    async def _restore_children(self, uow: UnitOfWork, row: Any) -> None:
        """Restore the children deleted in the same transaction as the row.

        A forced Delete stamps the row and its live children with one delete_time, so
        exactly those children come back; ones deleted on their own before stay
        deleted. No restored child can clash with a live one: while the row was
        deleted, no child of it could be created or undeleted.
        """
        for link in self.spec.children:
            model = link.spec.model
            stmt = select(model).where(
                getattr(model, link.field) == row.id, model.delete_time == row.delete_time
            )
            async with translate_errors():
                children = list((await uow.session.execute(stmt.with_for_update())).scalars())
            for child in children:
                child.delete_time = None
                self._touch(uow, child)
                record_event(uow, link.spec, child, "undeleted")

    # ---- shared helpers ----------------------------------------------------

    def repository(self, uow: UnitOfWork) -> ResourceRepository:
        return ResourceRepository(uow.session, self.spec.model, self.spec.name)

    def record(self, uow: UnitOfWork, row: Any, verb: str, changed: Iterable[str] = ()) -> Message:
        """Append `<name>.<verb>` for `row` (masked) and return its unmasked message."""
        return record_event(uow, self.spec, row, verb, changed)

    async def _live_children(
        self, uow: UnitOfWork, link: ChildLink, parent: uuid.UUID
    ) -> list[Any]:
        """Live rows of one child type, locked in id order (a stable lock order)."""
        model = link.spec.model
        stmt = (
            select(model)
            .where(getattr(model, link.field) == parent, model.delete_time.is_(None))
            .order_by(model.id)
            .with_for_update()
        )
        async with translate_errors():
            return list((await uow.session.execute(stmt)).scalars())

    async def _check(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        self.check_fields(candidate, violations)
        if self.spec.parent is not None and existing is None:
            await self._check_parent(uow, candidate, violations)
        await self._validate(uow, candidate, violations, existing)
        self.complete(candidate, violations)

    def check_fields(self, candidate: Mapping[str, Any], violations: ViolationCollector) -> None:
        """The checks of a candidate that need no database: required fields, the spec's rules."""
        for name in self.spec.required:
            if candidate.get(name) in (None, "", [], {}):
                violations.add(name, "is required", "REQUIRED")
        if self.spec.validate is not None:
            self.spec.validate(candidate, violations)

    def complete(self, candidate: dict[str, Any], violations: ViolationCollector) -> None:
        """Refuse the candidate with every violation found, else add its derived columns."""
        violations.raise_if_any()
        if self.spec.derive is not None:
            candidate.update(self.spec.derive(candidate))

    async def _check_parent(
        self, uow: UnitOfWork, candidate: Mapping[str, Any], violations: ViolationCollector
    ) -> None:
        parent = self.spec.parent
        assert parent is not None
        key = candidate.get(parent.field)
        if key is None:
            if not any(
                v.field == f"{self.spec.name}.{parent.field}" for v in violations.violations
            ):
                violations.add(parent.field, "is required", "REQUIRED")
            return
        violations.raise_if_any()
        await self._require_live_parent(uow, key)

    async def _require_live_parent(self, uow: UnitOfWork, key: uuid.UUID) -> None:
        parent = self.spec.parent
        assert parent is not None
        kind = parent.field.removesuffix("_id")
        row = await ResourceRepository(uow.session, parent.model, kind).get(key, for_update=True)
        if row.delete_time is not None:
            raise FailedPrecondition(f"{kind} {key} is deleted", reason="PARENT_DELETED")

    def reject_parent_change(
        self, row: Any, changes: Mapping[str, Any], violations: ViolationCollector
    ) -> None:
        parent = self.spec.parent
        if (
            parent is not None
            and parent.field in changes
            and changes[parent.field] != getattr(row, parent.field)
        ):
            violations.add(parent.field, "cannot be changed", "IMMUTABLE")

    @cached_property
    def _insert(self) -> Insert:
        """Create and update write through Core: one INSERT returning the row (column
        defaults included), one UPDATE of the changed columns."""
        table = self.spec.model.__table__
        return insert(table).returning(*table.c)

    @cached_property
    def _update_by_id(self) -> Update:
        table = self.spec.model.__table__
        return update(table).where(table.c.id == bindparam("where_id"))

    async def _live_row_for_write(
        self, uow: UnitOfWork, key: uuid.UUID, etag: str, *, as_values: bool = False
    ) -> Any:
        """The live row, locked; `as_values` reads its columns through Core (update
        writes them back through Core), else it is the ORM row (delete cascades)."""
        repository = self.repository(uow)
        read = repository.values if as_values else repository.get
        row = await read(key, for_update=True)
        if row.delete_time is not None:
            raise NotFound(f"{self.spec.name} {key} is deleted", reason="DELETED")
        self.check_etag(row, etag)
        return row

    def check_etag(self, row: Any, etag: str) -> None:
        if etag and etag != etag_of(row.revision):
            raise Aborted(
                f"{self.spec.name} {row.id} changed since it was read (etag mismatch)",
                reason="ETAG_MISMATCH",
            )

    def _update_fields(self, message: Message, paths: Sequence[str]) -> list[str]:
        if not paths:
            return self.codec.populated_fields(message)
        known = {f.name for f in message.DESCRIPTOR.fields}
        bad = [p for p in paths if p not in known]
        if bad:
            raise InvalidArgument(
                "update_mask names unknown fields",
                violations=[
                    FieldViolation("update_mask", f"unknown field {p[:100]!r}", "UNKNOWN_FIELD")
                    for p in bad
                ],
            )
        writable = self.codec.writable_fields
        return [p for p in dict.fromkeys(paths) if p in writable]

    def _apply(self, row: Any, candidate: Mapping[str, Any]) -> list[str]:
        changed = [name for name, value in candidate.items() if getattr(row, name) != value]
        for name in changed:
            setattr(row, name, candidate[name])
        return changed

    def _audit(self, uow: UnitOfWork) -> dict[str, Any]:
        return {
            "id": uuid.uuid4(),
            "create_time": uow.now,
            "update_time": uow.now,
            "created_by": uow.actor,
            "updated_by": uow.actor,
            "revision": 1,
        }

    def _touch(self, uow: UnitOfWork, row: Any) -> None:
        row.update_time = uow.now
        row.updated_by = uow.actor
        row.revision += 1

    def _index_named_by(self, columns: Sequence[str]) -> str:
        """SQLite names a plain unique index by its columns; find the index's name."""
        for index in self.spec.model.__table__.indexes:
            if index.unique and [c.name for c in index.columns] == list(columns):
                return str(index.name)
        return ""

    @asynccontextmanager
    async def _unique_errors(self) -> AsyncIterator[None]:
        """Turn a unique-index violation into ALREADY_EXISTS naming the field."""
        try:
            async with translate_errors():
                yield
        except UniqueViolation as error:
            raise self.already_exists(error) from error

    def already_exists(self, error: UniqueViolation) -> AlreadyExists:
        """ALREADY_EXISTS naming the field whose unique index refused a write."""
        constraint = error.constraint or self._index_named_by(error.columns)
        field = self.spec.unique_fields.get(constraint) or (
            error.columns[-1] if error.columns else ""
        )
        return AlreadyExists(
            f"a live {self.spec.name} with this {field or 'key'} already exists",
            field=f"{self.spec.name}.{field}" if field else "",
            reason=f"DUPLICATE_{field.upper()}" if field else "DUPLICATE",
            metadata={"constraint": error.constraint} if error.constraint else None,
        )


def record_event(
    uow: UnitOfWork,
    spec: ResourceSpec,
    row: Any,
    verb: str,
    changed: Iterable[str] = (),
    *,
    actor: str | None = None,
    request_id: str | None = None,
) -> Message:
    """Append `<spec.name>.<verb>` for `row` to the unit of work (see `pending_event`);
    the unmasked message is returned for the response. `actor` and `request_id` name
    the call behind it when that is not the unit of work's own."""
    event, message = pending_event(spec, row, verb, changed)
    if actor is not None or request_id is not None:
        event = event._replace(actor=actor, request_id=request_id)
    uow.record(event)
    return message
