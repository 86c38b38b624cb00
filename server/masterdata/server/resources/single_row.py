"""Create, Update, Delete and Undelete that change one row: sent whole, as one write.

Why (tests/test_round_trips.py counts, bench/cpu_per_call.py measures): through a
session and a unit of work, a CreateCommodity with a request_id took seven round
trips and an UpdateCommodity eight. Everything such a write needs is known before
it is sent — the row after the change, its event, the reply for the idempotency
key — so it goes to the backend as one `RowWrite` (one statement on PostgreSQL,
storage/postgres/writes.py): a Create is one round trip, an Update, Delete or
Undelete two (the read of the row, then the write).

An update is optimistic: it applies only while the row has the revision that was
read, so no row lock is held between the read and the write. A write that finds
another revision is read and tried once more, and then handed to the locking path
(`Resources`), which waits for the row instead; so does every write whose resource
has hooks that run in the transaction (references, cascades, parents), since those
read other rows that must not change before the commit.

With an idempotency key, the key is stored by the same statement; a key already
stored makes the write fail whole, and the stored reply is returned instead. Every
refusal (not found, deleted, etag mismatch, a duplicate) first looks for a stored
reply, so a retry of a call that succeeded gets its first reply, as before.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Mapping, Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from google.protobuf.message import Message

from masterdata.server.domain.errors import Aborted, AlreadyExists, NotFound, ViolationCollector
from masterdata.server.repositories.generic import no_such
from masterdata.server.repositories.idempotency import stored_reply
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.ids import parse_request_id
from masterdata.server.resources.recording import event_of, pending_event
from masterdata.server.resources.spec import ChildLink
from masterdata.server.storage.backend import Cascade, RowWrite
from masterdata.server.storage.errors import UniqueViolation, translate_errors
from masterdata.server.storage.unit_of_work import PendingEvent, event_rows

if TYPE_CHECKING:
    from masterdata.server.resources.standard import Resources

#: Optimistic attempts of one update before it takes the locking path.
ATTEMPTS = 2


class SingleRowWrites:
    """The one-write path of one resource type; None from a method means "take the
    locking path" (hooks, or a row that kept changing)."""

    def __init__(self, resources: Resources, hooks: set[str]) -> None:
        """`hooks`: the names of the transaction hooks `resources` overrides."""
        self._of = resources
        self._spec = resources.spec
        self._table = resources.spec.model.__table__
        self._columns = tuple(c.key for c in self._table.columns)
        self._blank = dict.fromkeys(self._columns)
        self._writable = tuple(resources.codec.writable_fields)
        self._defaults = {c.key: c.default for c in self._table.columns if c.default is not None}
        self._children = tuple(
            (link.spec.model.__table__, link.field) for link in resources.spec.children
        )
        spec = resources.spec
        self.creates = spec.parent is None and not hooks & {"_validate", "_after_create"}
        self.updates = not hooks & {"_validate", "_after_update"}
        self.deletes = "_before_delete" not in hooks
        self.undeletes = spec.parent is None and "_before_undelete" not in hooks

    async def create(
        self, values: Mapping[str, Any], violations: ViolationCollector, caller: Caller
    ) -> Message:
        check_request_id(caller)
        candidate = dict(values)
        self._of.check_fields(candidate, violations)
        self._of.complete(candidate, violations)
        now = datetime.now(UTC)
        written = self._with_defaults(candidate) | {
            "id": uuid.uuid4(),
            "create_time": now,
            "update_time": now,
            "created_by": caller.identity,
            "updated_by": caller.identity,
            "revision": 1,
        }
        reply = await self._send(caller, self._blank | written, written, None, "created", (), now)
        assert reply is not None  # an insert is never out of date
        return reply

    async def update(
        self,
        key: uuid.UUID,
        etag: str,
        changes: Mapping[str, Any],
        violations: ViolationCollector,
        caller: Caller,
    ) -> Message | None:
        check_request_id(caller)
        for _ in range(ATTEMPTS):
            row = await self._refused_unless_stored(caller, self._live_row(key, etag, caller))
            if isinstance(row, Message):
                return row
            values = vars(row)
            self._of.reject_parent_change(row, changes, violations)
            candidate = {name: values[name] for name in self._writable} | dict(changes)
            self._of.check_fields(candidate, violations)
            self._of.complete(candidate, violations)
            changed = [name for name, value in candidate.items() if values[name] != value]
            if not changed:
                if caller.idempotency is not None:
                    return None  # the reply is stored by the locking path's claim
                return self._of.codec.render(values, reveal=True)
            written = {name: candidate[name] for name in changed}
            reply = await self._change(caller, row, written, "updated", changed)
            if reply is not None:
                return reply
        return None

    async def delete(
        self, key: uuid.UUID, etag: str, caller: Caller, *, force: bool = False
    ) -> Message | None:
        """Without `force`, live children refuse the delete (HAS_CHILDREN); with it, a
        row that has children takes the locking path, which deletes them too."""
        if force and self._spec.children:
            return None
        check_request_id(caller)
        for _ in range(ATTEMPTS):
            row = await self._refused_unless_stored(caller, self._live_row(key, etag, caller))
            if isinstance(row, Message):
                return row
            deleted = {"delete_time": _now()}
            reply = await self._change(caller, row, deleted, "deleted", guarded=True)
            if reply is not None:
                return reply
        return None

    async def undelete(self, key: uuid.UUID, etag: str, caller: Caller) -> Message | None:
        check_request_id(caller)
        for _ in range(ATTEMPTS):
            row = await self._refused_unless_stored(caller, self._deleted_row(key, etag, caller))
            if isinstance(row, Message):
                return row
            restored = await self._deleted_with(row, caller)
            undeleted = {"delete_time": None}
            reply = await self._change(caller, row, undeleted, "undeleted", restored=restored)
            if reply is not None:
                return reply
        return None

    # ---- the parts -----------------------------------------------------------

    async def _row(self, key: uuid.UUID, caller: Caller) -> SimpleNamespace:
        """The row, its columns read at once (a row by attribute may decode a JSON
        column per read)."""
        async with translate_errors():
            row = await self._of.runtime.db.rows.one(self._table, key, caller.time_left())
        if row is None:
            raise no_such(self._spec.name, key)
        columns = row._mapping
        return SimpleNamespace(**{name: columns[name] for name in self._columns})

    async def _live_row(self, key: uuid.UUID, etag: str, caller: Caller) -> Any:
        row = await self._row(key, caller)
        if row.delete_time is not None:
            raise NotFound(f"{self._spec.name} {key} is deleted", reason="DELETED")
        self._of.check_etag(row, etag)
        return row

    async def _deleted_row(self, key: uuid.UUID, etag: str, caller: Caller) -> Any:
        row = await self._row(key, caller)
        self._of.check_etag(row, etag)
        if row.delete_time is None:
            raise AlreadyExists(f"{self._spec.name} {key} is not deleted", reason="NOT_DELETED")
        return row

    async def _refused_unless_stored(self, caller: Caller, read: Awaitable[Any]) -> Any:
        """The row `read` returns; if it refuses the call, the reply stored under the
        caller's key instead (the call was done before), else the refusal."""
        try:
            return await read
        except (NotFound, Aborted, AlreadyExists):
            stored = await self._stored_reply(caller)
            if stored is None:
                raise
            return stored

    async def _change(
        self,
        caller: Caller,
        row: SimpleNamespace,
        changes: dict[str, Any],
        verb: str,
        changed: Sequence[str] = (),
        *,
        guarded: bool = False,
        restored: Sequence[tuple[ChildLink, list[Any]]] = (),
    ) -> Message | None:
        """`changes` to `row`, touched, as of the revision read; None when it moved on.
        `guarded`: only while the row has no live children; `restored`: children
        undeleted with it."""
        now = changes["delete_time"] if changes.get("delete_time") else _now()
        written = changes | {
            "update_time": now,
            "updated_by": caller.identity,
            "revision": row.revision + 1,
        }
        after = vars(row) | written
        touched = {"update_time": now, "updated_by": caller.identity}
        cascade = tuple(
            Cascade(link.spec.model.__table__, tuple(child.id for child in rows), changes | touched)
            for link, rows in restored
            if rows
        )
        also = [
            pending_event(link.spec, _after(link, child, changes | touched), verb)[0]
            for link, rows in restored
            for child in rows
        ]
        return await self._send(
            caller,
            after,
            written,
            row.revision,
            verb,
            changed,
            now,
            guarded=guarded,
            cascade=cascade,
            also=also,
        )

    async def _deleted_with(self, row: Any, caller: Caller) -> list[tuple[ChildLink, list[Any]]]:
        """The children a forced delete took with `row`, when its undelete restores them."""
        if not self._spec.undelete_restores_children:
            return []
        reads = self._of.runtime.db.rows
        async with translate_errors():
            found = await reads.deleted_with(
                row.id, row.delete_time, self._children, caller.time_left()
            )
        return list(zip(self._spec.children, found, strict=True))

    async def _send(
        self,
        caller: Caller,
        after: dict[str, Any],
        written: dict[str, Any],
        expected_revision: int | None,
        verb: str,
        changed: Sequence[str],
        now: datetime,
        *,
        guarded: bool = False,
        cascade: tuple[Cascade, ...] = (),
        also: Sequence[PendingEvent] = (),
    ) -> Message | None:
        """Send the write of the row that becomes `after` (every column); the reply (the
        row's message), or the one stored under the caller's key, or None when the row
        moved on.

        The row is rendered once: its message is the reply, and its serialization the
        event's resource and the stored reply when the resource masks nothing.
        """
        codec = self._of.codec
        message = codec.render(after, reveal=True)
        event = event_of(self._spec, message, after["id"], after["revision"], verb, changed)
        response = message if codec.masked else event.resource
        claims = [] if caller.idempotency is None else [key_row(caller, response, now)]
        events = event_rows(
            [event, *also], actor=caller.identity, request_id=caller.request_id, now=now
        )
        children = self._children if guarded else ()
        write = RowWrite(
            self._table,
            after["id"],
            written,
            expected_revision,
            events,
            claims,
            caller.time_left(),
            children,
            cascade,
        )
        runtime = self._of.runtime
        try:
            async with translate_errors():
                outcome = await runtime.db.backend.write_row(write)
        except UniqueViolation as error:
            stored = await self._stored_reply(caller)
            if stored is not None:
                return stored
            raise self._of.already_exists(error) from error
        if not outcome.applied:
            stored = await self._stored_reply(caller)
            if stored is None and any(outcome.live_children):
                names = (link.spec.name for link in self._spec.children)
                live = {name: n for name, n in zip(names, outcome.live_children, strict=True) if n}
                raise self._of.has_children(SimpleNamespace(**after), live)
            return stored
        runtime.feed.hint()
        return message

    async def _stored_reply(self, caller: Caller) -> Message | None:
        """The reply stored under the caller's key (the resource's message); None
        without one, or without a key."""
        key = caller.idempotency
        if key is None:
            return None
        async with self._of.runtime.db.read_session() as session:
            stored = await stored_reply(session, caller.identity, key)
        if stored is None:
            return None
        return self._spec.message.FromString(stored)

    def _with_defaults(self, candidate: dict[str, Any]) -> dict[str, Any]:
        """`candidate` with the columns' defaults where it has no value (as an INSERT
        through SQLAlchemy gets them)."""
        filled = {}
        for key, default in self._defaults.items():
            if key not in candidate:
                filled[key] = default.arg if default.is_scalar else default.arg(None)
        return filled | candidate


def _after(link: ChildLink, child: Any, changes: dict[str, Any]) -> SimpleNamespace:
    """A child row as `changes` leave it, its revision up by one."""
    columns = link.spec.model.__table__.columns
    values = {c.key: getattr(child, c.key) for c in columns} | changes
    return SimpleNamespace(**values | {"revision": child.revision + 1})


def key_row(caller: Caller, reply: Message | bytes, now: datetime) -> dict[str, Any]:
    """The idempotency_keys row storing `reply` (or its serialization) under the
    caller's key."""
    key = caller.idempotency
    assert key is not None
    return {
        "request_id": key.request_id,
        "identity": caller.identity,
        "method": key.method,
        "fingerprint": key.fingerprint,
        "response": reply if isinstance(reply, bytes) else reply.SerializeToString(),
        "create_time": now,
    }


def check_request_id(caller: Caller) -> None:
    """A request_id that is no UUID is refused before anything is written."""
    if caller.idempotency is not None:
        parse_request_id(caller.idempotency.request_id)


def _now() -> datetime:
    return datetime.now(UTC)
