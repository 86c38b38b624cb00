"""NextDocumentNumber calls of one series served together: one write, many numbers
(or one, for a call that arrives alone).

Why (bench/document_numbers.py): calls of one series each take the series' row, so
one number per write caps the series at one write per number. Calls that arrive
while this process is issuing from their series wait here instead, and the next
write serves them all: the series is read, then one write (storage `RowWrite`, one
statement on PostgreSQL) takes `next_number + k` — k consecutive numbers — while the
series still has the revision read, with one number_issued event per number (each
carrying its own caller and request_id) and each caller's idempotency key with its
reply. Numbers stay unique and gap-free, across processes too: a write that finds
the series moved on writes nothing, and the numbers exist only if that write commits.
Such a batch then reads the series again with its row lock held to the commit and
writes after it (storage `write_locked`): where two processes take numbers from one
series, guessing again mostly guessed wrong again, and each call then went down the
one-call path alone (bench/cpu_per_call.py --workers 2: 2,065 µs a call).

Anything out of the ordinary in a batch — a request_id that is already stored or
appears twice, no active year or series, any error — sends each of its calls down
the one-call path (`one_call`: a transaction of its own that waits for the series'
lock), so every caller gets exactly the answer it would have got alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from masterdata.server.domain.errors import MasterdataError, Unavailable
from masterdata.server.families.organizations.numbering import (
    LOCK_SERIES,
    NumberRequest,
    number_reply,
    read_series,
    series_params,
)
from masterdata.server.families.organizations.specs import DOCUMENT_SERIES
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.recording import pending_event
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.single_row import check_request_id, key_row
from masterdata.server.storage.backend import RowWrite
from masterdata.server.storage.errors import UniqueViolation, translate_errors
from masterdata.server.storage.models.organization import DocumentSeriesRow
from masterdata.server.storage.unit_of_work import event_rows
from masterdata.v1 import organization_pb2 as pb

log = logging.getLogger("masterdata.numbering")
Reply = pb.NextDocumentNumberResponse
OneCall = Callable[[NumberRequest, Caller], Awaitable[Reply]]
#: Most calls one transaction serves (bounds its size and its events).
MAX_BATCH = 200
#: How long a series stays on the locking path after a batch found it moved on.
CONTENDED_S = 1.0
_SERIES = DocumentSeriesRow.__table__


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
        #: Series another process wrote between a batch's read and its write, until when
        #: their batches skip the optimistic write and wait for the lock at once.
        self._contended_until: dict[tuple[uuid.UUID, str], float] = {}

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
            replies = await self._together(calls)
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
        """All of `calls` in one write, or _Fallback (nothing written).

        The series is read, then one write takes `next_number + k` while the series
        still has the revision read, with one number_issued event per number (each
        carrying its own caller and request_id) and each caller's key with its reply
        (storage `RowWrite`: one statement on PostgreSQL). A series that moved on
        meanwhile (another process is taking numbers from it) is read again with its
        lock held to the commit, so that the batch waits for the other process's
        write instead of guessing again (storage `write_locked`); for CONTENDED_S
        after that, the series' batches take the lock at once.
        """
        keys = [(c.caller.identity, c.caller.idempotency) for c in calls if c.caller.idempotency]
        if len({(identity, key.request_id) for identity, key in keys}) != len(keys):
            raise _Fallback
        for call in calls:
            check_request_id(call.caller)
        # The series ends up updated by the last caller, and the write lives as long as
        # the most patient caller allows.
        deadlines = [c.caller.deadline for c in calls]
        deadline = None if None in deadlines else max(d for d in deadlines if d is not None)
        owner = dataclasses.replace(calls[-1].caller, deadline=deadline)
        request = calls[0].request
        key = (request.organization_id, request.document_type)
        try:
            async with translate_errors():
                contended = time.monotonic() < self._contended_until.get(key, 0.0)
                replies = None if contended else await self._optimistic(calls, owner)
                if replies is None:
                    if not contended:
                        self._contended_until[key] = time.monotonic() + CONTENDED_S
                    replies = await self._locked(calls, owner)
        except UniqueViolation:
            raise _Fallback from None  # a retry: it replays its stored reply (or is refused) alone
        self._runtime.feed.hint()
        return replies

    async def _optimistic(self, calls: list[_Call], owner: Caller) -> list[Reply] | None:
        """The series read, then the write at the revision read; None if it moved on."""
        series = await read_series(self._runtime.db, calls[0].request, owner.time_left())
        if series is None:
            raise _Fallback  # the one-call path says what is missing
        write, replies = _numbers(calls, series, owner)
        return replies if (await self._runtime.db.backend.write_row(write)).applied else None

    async def _locked(self, calls: list[_Call], owner: Caller) -> list[Reply]:
        """The series read with its lock held to the commit, then the write."""
        replies = await self._runtime.db.backend.write_locked(
            LOCK_SERIES,
            series_params(calls[0].request),
            lambda series: _numbers(calls, series, owner),
            owner.time_left(),
        )
        if replies is None:
            raise _Fallback  # no series (any more): the one-call path explains
        return replies


def _numbers(calls: list[_Call], series: Any, owner: Caller) -> tuple[RowWrite, list[Reply]]:
    """The write that takes the numbers of `calls` from `series` as read (applied only
    while it has that revision), and each call's reply."""
    now = datetime.now(UTC)
    count = len(calls)
    first = series.next_number
    events, claims, replies = [], [], []
    for index, call in enumerate(calls):
        number = first + index
        caller = call.caller
        taken = _SeriesAfter(series, number, index + 1, caller.identity, now)
        event, _ = pending_event(DOCUMENT_SERIES, taken, "number_issued")
        events.append(event._replace(actor=caller.identity, request_id=caller.request_id))
        reply = number_reply(taken, number, call.request)
        if caller.idempotency is not None:
            claims.append(key_row(caller, reply, now))
        replies.append(reply)
    written = {
        "next_number": first + count,
        "revision": series.revision + count,
        "update_time": now,
        "updated_by": owner.identity,
    }
    write = RowWrite(
        _SERIES,
        series.id,
        written,
        series.revision,
        event_rows(events, actor=owner.identity, request_id=owner.request_id, now=now),
        claims,
        owner.time_left(),
    )
    return write, replies


class _SeriesAfter:
    """The series as it is right after one number of a batch is taken (the `taken`-th)."""

    __slots__ = ("_row", "next_number", "revision", "update_time", "updated_by")

    def __init__(self, row: Any, number: int, taken: int, actor: str, now: datetime) -> None:
        self._row = row
        self.next_number = number + 1
        self.revision = row.revision + taken
        self.update_time = now
        self.updated_by = actor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, name)
