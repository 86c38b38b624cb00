"""Run a write once per request_id; retries and concurrent twins get the stored reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message

from masterdata.server.db.unit_of_work import UnitOfWork
from masterdata.server.repositories.idempotency import IdempotencyStore
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.runtime import Runtime

M = TypeVar("M", bound=Message)


async def run_idempotent(
    runtime: Runtime,
    caller: Caller,
    request_id: str,
    method: str,
    reply_type: type[M],
    work: Callable[[UnitOfWork], Awaitable[M]],
) -> M:
    """`work(uow)` in one transaction that commits; with a request_id, at most once.

    The key is claimed before the work, so a concurrent twin waits for it and then
    replays the stored reply. `work` returns the reply and leaves the commit to
    this function.
    """
    async with runtime.unit_of_work(caller, request_id) as uow:
        store = IdempotencyStore(uow.session)
        if request_id:
            stored = await store.claim(request_id, method, uow.now)
            if stored is not None:
                return reply_type.FromString(stored)
        reply = await work(uow)
        if request_id:
            await store.complete(request_id, reply.SerializeToString())
        await uow.commit()
    return reply
