"""Runs one import: batches, transactions, request_id, and the response stream.

Three ways to run, by the options:
- per batch (default): each batch commits in its own unit of work, then its row
  errors and progress are sent; a cancelled call leaves only whole batches.
- atomic: one unit of work for every batch; the first row error stops writing
  (the rest is still checked, so every error is reported) and nothing commits.
- validate_only: every batch is planned on a read session; nothing is written.
Cancellation needs no code: CancelledError ends the awaited statement, and the
unit of work's exit rolls its transaction back.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from masterdata.server.bulk import checkpoint
from masterdata.server.bulk.batches import BatchRunner, Convert, Counts, Outcome, Prepared
from masterdata.server.bulk.sources import InputRow
from masterdata.server.config import Settings
from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.resources.activity import give_way_to
from masterdata.server.resources.caller import Caller, IdempotencyKey
from masterdata.server.resources.runtime import Runtime
from masterdata.server.storage.unit_of_work import UnitOfWork
from masterdata.v1 import commodity_pb2 as pb

Response = pb.ImportCommoditiesResponse
Rows = AsyncIterator[Sequence[InputRow]]
T = TypeVar("T")
_DONE = object()


@dataclass(frozen=True)
class Options:
    """The settings of one import (ImportCommoditiesRequest / ImportOptions)."""

    upsert: bool
    validate_only: bool
    atomic: bool
    batch_size: int
    #: The import's idempotency key; None without a request_id and when validating.
    key: IdempotencyKey | None


def parse_options(
    mode: int,
    validate_only: bool,
    atomic: bool,
    batch_size: int,
    key: IdempotencyKey | None,
    settings: Settings,
) -> Options:
    """Checked options; batch_size 0 means the default, above the maximum is coerced."""
    violations = []
    if mode not in pb.ImportMode.values():
        violations.append(FieldViolation("mode", f"{mode} is not an ImportMode", "INVALID_ENUM"))
    if batch_size < 0:
        violations.append(FieldViolation("batch_size", "must be 1-5000 (0: 500)", "OUT_OF_RANGE"))
    if violations:
        raise InvalidArgument("the import options are invalid", violations=violations)
    size = min(batch_size or settings.default_import_batch_size, settings.max_import_batch_size)
    return Options(
        upsert=mode == pb.IMPORT_MODE_UPSERT,
        validate_only=validate_only,
        atomic=atomic,
        batch_size=max(1, size),
        key=None if validate_only else key,
    )


async def prefetch(source: AsyncIterator[T], depth: int = 1) -> AsyncIterator[T]:
    """Run `source` in a task of its own, at most `depth` items ahead of the consumer.

    Why: preparing a batch is CPU work and writing one is mostly waiting for the
    database; with the next batch prepared while the current one is written, the
    two overlap. `depth` bounds the read-ahead (and so an upload's memory) to that
    many prepared batches. The task ends with the consumer, whatever ends it.
    """
    queue: asyncio.Queue[tuple[Any, BaseException | None]] = asyncio.Queue(depth)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((item, None))
        except asyncio.CancelledError:
            raise
        except Exception as error:  # handed to the consumer, which raises it
            await queue.put((_DONE, error))
            return
        await queue.put((_DONE, None))

    task = asyncio.create_task(pump())
    try:
        while True:
            item, error = await queue.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _batches(rows: Rows, size: int, skip: int) -> AsyncIterator[list[InputRow]]:
    """Re-slice the source into batches of `size` rows, after skipping `skip` rows."""
    batch: list[InputRow] = []
    async for piece in rows:
        if skip:
            dropped = min(skip, len(piece))
            piece, skip = piece[dropped:], skip - dropped
        for row in piece:
            batch.append(row)
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


class Importer:
    """One import call: yields row errors and progress per batch, then the summary."""

    def __init__(self, runtime: Runtime, caller: Caller, options: Options) -> None:
        self.runtime = runtime
        #: The options' key is the one its writes record (none when validating).
        self.caller = dataclasses.replace(caller, idempotency=options.key)
        self.options = options
        self.runner = BatchRunner(
            upsert=options.upsert, backend=runtime.db.backend, actor=caller.identity
        )
        self.started = time.monotonic()
        #: Per-batch mode: the request_id's checkpoint and the committed totals, in commit order.
        self._mark = checkpoint.Checkpoint(pb.ImportProgress())
        self._committed = Counts()
        self._ignored: Callable[[], Sequence[str]] = tuple

    def run(
        self, rows: Rows, convert: Convert, ignored: Callable[[], Sequence[str]] = tuple
    ) -> AsyncIterator[Response]:
        """The import's responses; `ignored` gives the input's unknown columns for the summary."""
        # An import is background work: between its slices of CPU work it pauses
        # for the unary calls of other clients (resources/activity.py).
        give_way_to(self.runtime.unary_calls)
        self._ignored = ignored
        if self.options.validate_only:
            return self._validate(rows, convert)
        if self.options.atomic:
            return self._atomic(rows, convert)
        return self._per_batch(rows, convert)

    async def _validate(self, rows: Rows, convert: Convert) -> AsyncIterator[Response]:
        counts = Counts()
        async for batch in self._prepared(rows, convert, 0):
            async with self.runtime.db.read_session() as session:
                outcome = await self.runner.run(session, batch, None)
            for item in self._report(outcome, counts):
                yield item
        yield Response(summary=self._summary(counts, committed=False))

    async def _per_batch(self, rows: Rows, convert: Convert) -> AsyncIterator[Response]:
        """Each batch in its own transaction; on PostgreSQL one commits while the next is written.

        Why the overlap: a batch's commit (its events under the event-append lock,
        then COMMIT) is mostly waiting for the database, and the next batch's
        lookup, COPY and merge need nothing from it (duplicates across batches
        are found in memory by the planner, in file order). Commits still happen
        one at a time and in file order: each batch waits for the one before it.
        SQLite has one writer connection, so there batches run one after another.
        """
        self._mark = await self._read_checkpoint()
        if self._mark.summary is not None:
            yield Response(summary=self._mark.summary)
            return
        counts = Counts.of(self._mark.progress)
        self._committed = Counts.of(self._mark.progress)
        previous: asyncio.Task[Outcome] | None = None
        current: asyncio.Task[Outcome] | None = None
        try:
            async for batch in self._prepared(rows, convert, self._mark.progress.rows_read):
                written = asyncio.Event()
                current = asyncio.create_task(self._write_batch(batch, previous, written))
                if self.runtime.db.backend.concurrent_writers:
                    await _until_set(written, current)
                else:
                    await asyncio.wait([current])
                if previous is not None:
                    for item in self._report(await previous, counts):
                        yield item
                previous, current = current, None
            if previous is not None:
                for item in self._report(await previous, counts):
                    yield item
        finally:
            for task in (current, previous):
                if task is not None and not task.done():
                    task.cancel()
                    await asyncio.wait([task])
        summary = self._summary(counts, committed=True)
        if self.options.key:
            async with self._unit_of_work() as uow:
                await self._advance(uow, self._mark, Response(summary=summary))
                await uow.commit()
        yield Response(summary=summary)

    async def _write_batch(
        self, batch: Prepared, previous: asyncio.Task[Outcome] | None, written: asyncio.Event
    ) -> Outcome:
        """Write a batch; commit it (with its checkpoint) once the batch before it committed."""
        async with self._unit_of_work() as uow:
            outcome = await self.runner.run(uow.session, batch, uow)
            written.set()
            if previous is not None:
                await previous  # its failure is this batch's too: nothing after it commits
            self._committed.add(outcome.counts)
            progress = Response(progress=self._committed.progress())
            self._mark = await self._advance(uow, self._mark, progress)
            await uow.commit()
        self._observe(outcome.counts, committed=True)
        return outcome

    async def _atomic(self, rows: Rows, convert: Convert) -> AsyncIterator[Response]:
        async with self._unit_of_work() as uow:
            mark = await self._claim(uow)
            if mark.summary is not None:
                yield Response(summary=mark.summary)
                return
            counts, this_call, writing = Counts.of(mark.progress), Counts(), True
            async for batch in self._prepared(rows, convert, mark.progress.rows_read):
                outcome = await self.runner.run(uow.session, batch, uow if writing else None)
                writing = writing and not outcome.failures
                this_call.add(outcome.counts)
                for item in self._report(outcome, counts):
                    yield item
            summary = self._summary(counts, committed=writing)
            if writing:
                await self._advance(uow, mark, Response(summary=summary))
                await uow.commit()
        self._observe(this_call, committed=writing)
        yield Response(summary=summary)

    async def _prepared(self, rows: Rows, convert: Convert, skip: int) -> AsyncIterator[Prepared]:
        async def prepare() -> AsyncIterator[Prepared]:
            async for batch in _batches(rows, self.options.batch_size, skip):
                yield await self.runner.prepare(batch, convert)

        async for batch in prefetch(prepare()):
            yield batch

    def _unit_of_work(self) -> UnitOfWork:
        return self.runtime.unit_of_work(self.caller)

    async def _read_checkpoint(self) -> checkpoint.Checkpoint:
        key = self.options.key
        if key is None:
            return checkpoint.Checkpoint(pb.ImportProgress())
        async with self.runtime.db.read_session() as session:
            return await checkpoint.read(session, self.caller.identity, key, lock=False)

    async def _claim(self, uow: UnitOfWork) -> checkpoint.Checkpoint:
        """Lock (or create) the request_id's row for the whole atomic transaction."""
        key = self.options.key
        if key is None:
            return checkpoint.Checkpoint(pb.ImportProgress())
        mark = await checkpoint.read(uow.session, self.caller.identity, key, lock=True)
        if mark.summary is not None:
            return mark
        return await self._advance(uow, mark, Response(progress=mark.progress))

    async def _advance(
        self, uow: UnitOfWork, mark: checkpoint.Checkpoint, state: Response
    ) -> checkpoint.Checkpoint:
        key = self.options.key
        if key is None:
            return mark
        await checkpoint.advance(uow.session, self.caller.identity, key, mark, state, uow.now)
        progress = state.progress if state.HasField("progress") else mark.progress
        return checkpoint.Checkpoint(progress, exists=True)

    def _report(self, outcome: Outcome, counts: Counts) -> Iterator[Response]:
        """A batch's row errors, then the running totals (which include the batch)."""
        counts.add(outcome.counts)
        for failure in outcome.failures:
            error = pb.ImportRowError(
                row_number=failure.number,
                field=failure.field,
                reason=failure.reason,
                message=failure.message,
            )
            yield Response(row_error=error)
        yield Response(progress=counts.progress())

    def _observe(self, counts: Counts, *, committed: bool) -> None:
        """masterdata_import_rows: committed rows by outcome (unchanged = "skipped"), failures."""
        metrics = self.runtime.metrics
        if metrics is None:
            return
        rows = metrics.import_rows
        if committed:
            rows.labels("created").inc(counts.created)
            rows.labels("updated").inc(counts.updated)
            rows.labels("skipped").inc(counts.unchanged)
        rows.labels("failed").inc(counts.failed)

    def _summary(self, counts: Counts, *, committed: bool) -> pb.ImportSummary:
        summary = pb.ImportSummary(**counts.__dict__, committed=committed)
        ignored = self._ignored()
        if ignored:
            summary.ignored_columns.extend(ignored)
            names = ", ".join(repr(name) for name in ignored)
            summary.warnings.append(f"columns not imported (unknown headers): {names}")
        summary.duration.FromNanoseconds(int((time.monotonic() - self.started) * 1e9))
        return summary


async def _until_set(event: asyncio.Event, task: asyncio.Task[Any]) -> None:
    """Wait until `event` is set or `task` has ended, whichever comes first."""
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
