"""One batch of an import: prepare (no I/O), then look up, plan, write, record events.

A batch is the unit of set-based work: one query for the stored rows it can
match, one COPY/merge (or multi-row INSERT and UPDATE) for its writes, and its
events recorded in the unit of work, which inserts them in one statement at
commit. With `uow=None` (validate_only, or an atomic import that already
failed) the batch is planned and counted but nothing is written.

`prepare` is the CPU half that needs no database: cells to values, and the
checks of a row as a new commodity (most rows of most imports create). The
importer runs it one batch ahead (see importer.prefetch), so it overlaps the
previous batch's database round trips; `run` only re-checks rows that turn
out to update a stored commodity, and builds the events' messages while the
server merges the batch (`store.write`'s `meanwhile`). The CPU steps run in
slices (activity.sliced), so that concurrent calls are served in between.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.bulk.candidates import DEFAULTS, SPEC, Candidate, RowFailure, finalise
from masterdata.server.bulk.messages import MessageBuilder
from masterdata.server.bulk.payloads import PayloadEncoder
from masterdata.server.bulk.planning import Audit, FileState, Plan, plan_batch
from masterdata.server.bulk.sources import InputRow
from masterdata.server.bulk.store import find_stored, write
from masterdata.server.bulk.varieties import apply as apply_varieties
from masterdata.server.resources.activity import give_way, sliced
from masterdata.server.storage.backend import Backend, EventRecord
from masterdata.server.storage.random_ids import random_ids
from masterdata.server.storage.unit_of_work import UnitOfWork
from masterdata.v1 import commodity_pb2 as pb

Convert = Callable[[InputRow], Candidate | RowFailure]


@dataclass
class Counts:
    """Running totals of an import, as ImportProgress and ImportSummary carry them."""

    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    varieties_created: int = 0
    varieties_updated: int = 0

    @classmethod
    def of(cls, progress: pb.ImportProgress) -> Counts:
        return cls(**{name: getattr(progress, name) for name in _COUNTS})

    def add(self, other: Counts) -> None:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def progress(self) -> pb.ImportProgress:
        return pb.ImportProgress(**self.__dict__)


_COUNTS = tuple(f.name for f in fields(Counts))


@dataclass(frozen=True)
class Prepared:
    """A batch converted, before the database is asked anything."""

    size: int
    candidates: list[Candidate]
    failures: list[RowFailure]


@dataclass
class Outcome:
    """What one batch did: its counts and its rejected rows in row order."""

    counts: Counts
    failures: list[RowFailure] = field(default_factory=list)


class BatchRunner:
    """Runs batches of one import; keeps the import's in-file duplicate state."""

    def __init__(self, *, upsert: bool, backend: Backend, actor: str) -> None:
        self.upsert = upsert
        self.backend = backend
        self.actor = actor
        self.state = FileState()
        self.payloads = PayloadEncoder(MessageBuilder(SPEC))

    async def prepare(self, rows: Sequence[InputRow], convert: Convert) -> Prepared:
        """Convert a batch and check each row as a create (UPSERT rows with an id update)."""

        def checked(part: Sequence[InputRow]) -> list[Candidate | RowFailure]:
            return [self._checked(convert(row)) for row in part]

        results = await sliced(rows, checked)
        candidates = [r for r in results if not isinstance(r, RowFailure)]
        failures = [r for r in results if isinstance(r, RowFailure)]
        return Prepared(len(rows), candidates, failures)

    def _checked(self, result: Candidate | RowFailure) -> Candidate | RowFailure:
        if (
            isinstance(result, Candidate)
            and result.as_create is None  # not done by the converter already
            and not (self.upsert and result.id is not None)
        ):
            merged = DEFAULTS | result.values
            result.as_create = finalise(result.number, merged, result.checks, own=True)
        return result

    async def run(self, session: AsyncSession, batch: Prepared, uow: UnitOfWork | None) -> Outcome:
        """Plan a batch; with a unit of work, also write it and record its events."""
        candidates, failures = batch.candidates, list(batch.failures)
        lock = uow is not None
        stored = await find_stored(
            session, candidates, upsert=self.upsert, lock=lock, backend=self.backend
        )
        audit = Audit(uow.actor, uow.now) if uow else Audit(self.actor, datetime.now(UTC))
        began = time.perf_counter()
        plan = plan_batch(candidates, stored, self.state, upsert=self.upsert, audit=audit)
        await give_way(time.perf_counter() - began)
        failures.extend(plan.failures)
        lost: set[uuid.UUID] = set()
        if uow is not None:
            events = partial(self._events, plan, audit, uow.request_id)
            lost, built = await write(session, plan, backend=self.backend, meanwhile=events)
            failures.extend(_lost(plan, lost))
            uow.record_rows(e for e in built if e.aggregate_id not in lost)
        wanted = [item for item in plan.varieties if item[0] not in lost]
        varieties = await apply_varieties(session, wanted, backend=self.backend, uow=uow)
        failures.sort(key=lambda f: f.number)
        counts = Counts(
            rows_read=batch.size,
            created=len(plan.creates) - len(lost),
            updated=len(plan.updates),
            unchanged=plan.unchanged,
            failed=len(failures),
            varieties_created=varieties.created,
            varieties_updated=varieties.updated,
        )
        return Outcome(counts, failures)

    async def _events(self, plan: Plan, audit: Audit, request_id: str) -> list[EventRecord]:
        """One commodity.created / commodity.updated event per row of the plan, as the
        events table's rows (an import makes one per row: no PendingEvent between)."""
        created = partial(self._created, audit, request_id)
        updated = partial(self._updated, audit, request_id)
        pairs = list(zip(plan.creates, plan.create_shapes, strict=True))
        return await sliced(pairs, created) + await sliced(plan.updates, updated)

    def _created(
        self, audit: Audit, request_id: str, rows: Sequence[tuple[dict[str, Any], Any]]
    ) -> list[EventRecord]:
        name, resource_type, payload = SPEC.name, SPEC.resource_type, self.payloads.payload
        verb = f"{name}.created"
        actor, now = audit.actor, audit.now
        return [
            EventRecord(
                event_id,
                name,
                row["id"],
                1,
                verb,
                resource_type,
                payload(row, shape),
                (),
                actor,
                request_id,
                now,
            )
            for (row, shape), event_id in zip(rows, random_ids(len(rows)), strict=True)
        ]

    def _updated(
        self,
        audit: Audit,
        request_id: str,
        updates: Sequence[tuple[dict[str, Any], list[str]]],
    ) -> list[EventRecord]:
        name, resource_type, payload = SPEC.name, SPEC.resource_type, self.payloads.payload
        verb = f"{name}.updated"
        actor, now = audit.actor, audit.now
        return [
            EventRecord(
                event_id,
                name,
                row["id"],
                row["revision"],
                verb,
                resource_type,
                payload(row),
                tuple(changed),
                actor,
                request_id,
                now,
            )
            for (row, changed), event_id in zip(updates, random_ids(len(updates)), strict=True)
        ]


def _lost(plan: Plan, lost: set[uuid.UUID]) -> list[RowFailure]:
    """Creates a concurrent caller beat to the same (name, category)."""
    return [
        RowFailure(
            plan.numbers[key],
            "name",
            "DUPLICATE_NAME",
            "a live commodity with this name and category was created meanwhile",
        )
        for key in lost
    ]
