"""An import's request_id: its progress, committed with every batch, and its summary.

The idempotency_keys row of the import's key holds an ImportCommoditiesResponse:
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

from sqlalchemy.ext.asyncio import AsyncSession

from masterdata.server.domain.errors import Aborted
from masterdata.server.repositories.idempotency import stored_reply
from masterdata.server.resources.caller import IdempotencyKey
from masterdata.server.storage.errors import UniqueViolation, translate_errors
from masterdata.server.storage.models.events import IdempotencyKeyRow
from masterdata.v1 import commodity_pb2 as pb


@dataclass(frozen=True)
class Checkpoint:
    """What a key says about earlier attempts of an import."""

    progress: pb.ImportProgress
    summary: pb.ImportSummary | None = None
    exists: bool = False


async def read(
    session: AsyncSession, identity: str, key: IdempotencyKey, *, lock: bool
) -> Checkpoint:
    """The checkpoint of `key` (empty progress when there is none)."""
    response = await stored_reply(session, identity, key, lock=lock)
    if response is None:
        return Checkpoint(pb.ImportProgress())
    stored = pb.ImportCommoditiesResponse.FromString(response)
    if stored.HasField("summary"):
        return Checkpoint(pb.ImportProgress(), stored.summary, exists=True)
    return Checkpoint(stored.progress, exists=True)


async def advance(
    session: AsyncSession,
    identity: str,
    key: IdempotencyKey,
    expected: Checkpoint,
    state: pb.ImportCommoditiesResponse,
    now: object,
) -> None:
    """Store `state` if the checkpoint is still `expected` (inside the batch's transaction).

    A checkpoint that moved means a twin with the same key ran meanwhile: the
    batch is rolled back with ABORTED instead of being written twice.
    """
    current = await read(session, identity, key, lock=True)
    if current.exists != expected.exists or current.progress != expected.progress:
        raise _running(key)
    try:
        await _store(session, identity, key, state.SerializeToString(), now, exists=current.exists)
    except UniqueViolation as error:
        if not _is_idempotency_clash(error):
            raise
        raise _running(key) from error


async def _store(
    session: AsyncSession,
    identity: str,
    key: IdempotencyKey,
    response: bytes,
    now: object,
    *,
    exists: bool,
) -> None:
    async with translate_errors():
        if exists:
            row = await session.get(IdempotencyKeyRow, (key.request_id, identity, key.method))
            assert row is not None
            row.response = response
        else:
            session.add(
                IdempotencyKeyRow(
                    request_id=key.request_id,
                    identity=identity,
                    method=key.method,
                    fingerprint=key.fingerprint,
                    response=response,
                    create_time=now,
                )
            )
        await session.flush()


def _is_idempotency_clash(error: UniqueViolation) -> bool:
    """True when the violated key is idempotency_keys' primary key."""
    return error.constraint == "pk_idempotency_keys" or (
        not error.constraint and error.columns == ["request_id", "identity", "method"]
    )


def _running(key: IdempotencyKey) -> Aborted:
    return Aborted(
        f"another import with request_id {key.request_id} is running", reason="IMPORT_IN_PROGRESS"
    )
