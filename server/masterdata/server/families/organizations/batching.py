"""NextDocumentNumber calls of one series served together: one transaction, many numbers.

Why (bench/document_numbers.py): every caller of a series queues on the series' row
lock, so one number per transaction caps the series at one lock hold — UPDATE,
events, COMMIT, several round trips — per number. Calls that arrive while this
process is issuing from their series wait here instead, and the next transaction
serves them all: `next_number = next_number + k` takes k consecutive numbers under
the row lock, records one number_issued event per number (each carrying its own
caller and request_id), and commits once. Numbers stay unique and gap-free, across
processes too: they are still taken under the row lock and exist only if the
transaction that recorded them commits.

Anything out of the ordinary in a batch — a request_id that is already stored or
appears twice, no active year or series, any error — sends each of its calls down
the one-call path (`one_call`), so every caller gets exactly the answer it would
have got alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from masterdata.server.domain.errors import MasterdataError, Unavailable
from masterdata.server.families.organizations.numbering import (
    NumberRequest,
    record_issue,
    take_numbers,
)
from masterdata.server.repositories.idempotency import IdempotencyStore
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.runtime import Runtime
from masterdata.v1 import organization_pb2 as pb

log = logging.getLogger("masterdata.numbering")
Reply = pb.NextDocumentNumberResponse
OneCall = Callable[[NumberRequest, Caller], Awaitable[Reply]]
#: Most calls one transaction serves (bounds its size and its events).
MAX_BATCH = 200


class _Fallback(Exception):
    """This batch is not ordinary: serve its calls one by one."""


@dataclass
class _Call:
    request: NumberRequest
    caller: Caller
    reply: asyncio.Future[Reply] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, outcome: Reply | BaseException) -> None:
        if self.reply.done():  # the caller gave up (cancelled) meanwhile
            return
        if isinstance(outcome, BaseException):
            self.reply.set_exception(outcome)
        else:
            self.reply.set_result(outcome)


class NumberBatcher:
    """Queues NextDocumentNumber calls per series; one drain task per busy series."""

    def __init__(self, runtime: Runtime, one_call: OneCall) -> None:
        self._runtime = runtime
        self._one_call = one_call
        self._waiting: dict[tuple[uuid.UUID, str], list[_Call]] = {}
        self._tasks: dict[tuple[uuid.UUID, str], asyncio.Task[None]] = {}

    async def issue(self, request: NumberRequest, caller: Caller) -> Reply:
        key = (request.organization_id, request.document_type)
        call = _Call(request, caller)
        self._waiting.setdefault(key, []).append(call)
        if key not in self._tasks:
            self._tasks[key] = asyncio.create_task(self._drain(key), name="numbering")
        return await call.reply

    async def _drain(self, key: tuple[uuid.UUID, str]) -> None:
        """Serve the series' waiting calls, batch after batch, until none wait."""
        try:
            while waiting := self._waiting.pop(key, None):
                for start in range(0, len(waiting), MAX_BATCH):
                    calls = [c for c in waiting[start : start + MAX_BATCH] if not c.reply.done()]
                    if calls:
                        await self._serve(calls)
        finally:
            del self._tasks[key]

    async def _serve(self, calls: list[_Call]) -> None:
        try:
            replies = await self._together(calls) if len(calls) > 1 else None
        except (_Fallback, MasterdataError):  # the one-call path answers each caller
            replies = None
        except asyncio.CancelledError:
            for call in calls:
                call.settle(Unavailable("the server is shutting down; retry"))
            raise
        except Exception as error:  # served one by one below, which reports it properly
            log.warning("batched NextDocumentNumber failed; serving calls one by one: %s", error)
            replies = None
        if replies is None:
            await asyncio.gather(*(self._alone(call) for call in calls))
            return
        for call, reply in zip(calls, replies, strict=True):
            call.settle(reply)

    async def _alone(self, call: _Call) -> None:
        try:
            call.settle(await self._one_call(call.request, call.caller))
        except Exception as error:
            call.settle(error)

    async def _together(self, calls: list[_Call]) -> list[Reply]:
        """All of `calls` in one transaction, or _Fallback (nothing written)."""
        keys = [(c.caller.identity, c.caller.idempotency) for c in calls if c.caller.idempotency]
        if len({(identity, key.request_id) for identity, key in keys}) != len(keys):
            raise _Fallback
        # The series ends up updated by the last caller, and the transaction lives as
        # long as the most patient caller allows.
        deadlines = [c.caller.deadline for c in calls]
        deadline = None if None in deadlines else max(d for d in deadlines if d is not None)
        owner = dataclasses.replace(calls[-1].caller, deadline=deadline)
        async with self._runtime.unit_of_work(owner) as uow:
            store = IdempotencyStore(uow.session, uow.backend)
            for identity, key in keys:
                if await store.claim(identity, key, uow.now) is not None:
                    raise _Fallback  # a retry: it replays its stored reply (or is refused) alone
            series = await take_numbers(uow, calls[0].request, len(calls))
            if series is None:
                raise _Fallback  # the one-call path says what is missing
            first = series.next_number - len(calls)
            replies = []
            for index, call in enumerate(calls):
                number = first + index
                taken = _SeriesAfter(series, number, index - len(calls) + 1, call.caller.identity)
                reply = record_issue(
                    uow,
                    taken,
                    number,
                    call.request,
                    actor=call.caller.identity,
                    request_id=call.caller.request_id,
                )
                if call.caller.idempotency:
                    key = call.caller.idempotency
                    await store.complete(call.caller.identity, key, reply.SerializeToString())
                replies.append(reply)
            await uow.commit()
        return replies


class _SeriesAfter:
    """The series as it was right after one number of a batch was taken."""

    __slots__ = ("_row", "next_number", "revision", "updated_by")

    def __init__(self, row: Any, number: int, revisions_back: int, actor: str) -> None:
        self._row = row
        self.next_number = number + 1
        self.revision = row.revision + revisions_back
        self.updated_by = actor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)
