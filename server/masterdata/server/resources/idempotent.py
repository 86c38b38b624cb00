"""Run a write at most once per idempotency key; retries and twins get the stored reply.

A key is a client's request_id scoped to (identity, method), as Stripe's
idempotency keys and AIP-155 scope theirs: another caller's identical request_id
is a different key. The request is fingerprinted without its request_id, so a
retry with a changed body is refused (REQUEST_ID_REUSED) instead of silently
answered with the first result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message

from masterdata.server.domain.errors import InvalidArgument
from masterdata.server.repositories.idempotency import IdempotencyStore
from masterdata.server.resources.caller import Caller, IdempotencyKey
from masterdata.server.resources.ids import parse_request_id
from masterdata.server.resources.runtime import Runtime
from masterdata.server.storage.unit_of_work import UnitOfWork

M = TypeVar("M", bound=Message)
_FIELD = "request_id"


def key_of(method: str, request: Message, *more: Message) -> IdempotencyKey | None:
    """The key of `request`'s request_id for `method`, None without one.

    The fingerprint hashes the request's deterministic serialization with the
    request_id cleared (field order and map order cannot change it), followed by
    `more` (an upload's first data message).
    """
    if _FIELD not in request.DESCRIPTOR.fields_by_name:
        return None
    value: str = getattr(request, _FIELD)
    if not value:
        return None
    try:
        request_id = parse_request_id(value)
    except InvalidArgument:  # refused when claimed: after the request's own checks
        request_id = value
    digest = hashlib.sha256()
    request.ClearField(_FIELD)
    try:
        digest.update(request.SerializeToString(deterministic=True))
    finally:
        setattr(request, _FIELD, value)
    for message in more:
        digest.update(message.SerializeToString(deterministic=True))
    return IdempotencyKey(request_id, method, digest.digest())


async def run_idempotent(
    runtime: Runtime,
    caller: Caller,
    reply_type: type[M],
    work: Callable[[UnitOfWork], Awaitable[M]],
) -> M:
    """`work(uow)` in one transaction that commits; with a key, at most once.

    The key is claimed before the work, so a concurrent twin waits for it and then
    replays the stored reply. `work` returns the reply and leaves the commit to
    this function.
    """
    key = caller.idempotency
    async with runtime.unit_of_work(caller) as uow:
        store = IdempotencyStore(uow.session, uow.backend)
        if key is not None:
            stored = await store.claim(caller.identity, key, uow.now)
            if stored is not None:
                return reply_type.FromString(stored)
        reply = await work(uow)
        if key is not None:
            await store.complete(caller.identity, key, reply.SerializeToString())
        await uow.commit()
    return reply
