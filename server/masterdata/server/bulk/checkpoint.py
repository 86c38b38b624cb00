"""An import's request_id: its progress, committed with every batch, and its summary.

The idempotency_keys row of the request_id holds an ImportCommoditiesResponse:
`progress` while the import runs (updated in the same transaction as each
batch, so it always counts exactly the committed rows) and `summary` once it
is done. A retry after completion gets the stored summary and writes nothing; a
retry after an interrupted per-batch import skips the rows already committed
and continues, so no row is written twice. An atomic import claims the key at the
start of its one transaction, so a concurrent twin queues behind it and then
fails with ABORTED (retryable; the retry finds the summary).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.db.errors import UniqueViolation, translate_errors
from masterdata.server.db.models.events import IdempotencyKeyRow
from masterdata.server.domain.errors import Aborted, InvalidArgument
from masterdata.v1 import commodity_pb2 as pb

METHOD = "commodity.import"


@dataclass(frozen=True)
class Checkpoint:
    """What a request_id says about earlier attempts of an import."""

    progress: pb.ImportProgress
    summary: pb.ImportSummary | None = None
    exists: bool = False


async def read(session: AsyncSession, request_id: str, *, lock: bool) -> Checkpoint:
    """The checkpoint of `request_id` (empty progress when there is none)."""
    stmt = select(IdempotencyKeyRow).where(IdempotencyKeyRow.request_id == request_id)
    if lock:
        stmt = stmt.with_for_update()
    async with translate_errors():
        row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        return Checkpoint(pb.ImportProgress())
    if row.method != METHOD:
        raise InvalidArgument(
            f"request_id {request_id} was already used for {row.method}",
            reason="REQUEST_ID_REUSED",
        )
    stored = pb.ImportCommoditiesResponse.FromString(row.response)
    if stored.HasField("summary"):
        return Checkpoint(pb.ImportProgress(), stored.summary, exists=True)
    return Checkpoint(stored.progress, exists=True)


async def advance(
    session: AsyncSession,
    request_id: str,
    expected: Checkpoint,
    state: pb.ImportCommoditiesResponse,
    now: object,
) -> None:
    """Store `state` if the checkpoint is still `expected` (inside the batch's transaction).

    A checkpoint that moved means a twin with the same request_id ran meanwhile:
    the batch is rolled back with ABORTED instead of being written twice.
    """
    current = await read(session, request_id, lock=True)
    if current.exists != expected.exists or current.progress != expected.progress:
        raise _running(request_id)
    try:
        await _store(session, request_id, state.SerializeToString(), now, exists=current.exists)
    except UniqueViolation as error:
        if not _is_idempotency_clash(error):
            raise
        raise _running(request_id) from error


async def _store(
    session: AsyncSession, request_id: str, response: bytes, now: object, *, exists: bool
) -> None:
    async with translate_errors():
        if exists:
            row = await session.get(IdempotencyKeyRow, request_id)
            assert row is not None
            row.response = response
        else:
            session.add(
                IdempotencyKeyRow(
                    request_id=request_id, method=METHOD, response=response, create_time=now
                )
            )
        await session.flush()


def _is_idempotency_clash(error: UniqueViolation) -> bool:
    """True when the violated key is idempotency_keys' primary key."""
    return error.constraint == "pk_idempotency_keys" or (
        not error.constraint and error.columns == ["request_id"]
    )


def _running(request_id: str) -> Aborted:
    return Aborted(
        f"another import with request_id {request_id} is running", reason="IMPORT_IN_PROGRESS"
    )
