"""Calling any RPC the same way: unary, server-, client- or bidi-streaming.

A stream that writes (its request carries a request_id somewhere, like an import)
is read to its end, so both backends finish the same work. A read-only stream
(an export, the event feed) is read for a few messages and then cancelled by us;
that cut is recorded and counts as success.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import Message
from grpc import aio

from fuzz.contract import Rpc

#: A call taking longer than this is a hang, reported as such.
CALL_TIMEOUT_S = 30.0
#: A read-only stream is cut after this many messages, or this long without one.
READ_LIMIT, READ_IDLE_S = 3, 1.0


@dataclass(frozen=True)
class Outcome:
    """How a call ended; `cut` when we cancelled a read-only stream ourselves."""

    code: grpc.StatusCode
    details: str
    replies: int = 0
    cut: bool = False

    @property
    def verdict(self) -> str:
        """The status as compared across backends: our own cut counts as OK."""
        return "OK" if self.cut else self.code.name


def writes(descriptor: Descriptor, depth: int = 2) -> bool:
    """Whether a request (or a nested message of it) carries a request_id."""
    if "request_id" in descriptor.fields_by_name:
        return True
    return depth > 1 and any(
        writes(f.message_type, depth - 1)
        for f in descriptor.fields
        if f.message_type is not None and f.message_type.full_name.startswith("masterdata.")
    )


async def invoke(
    rpc: Rpc, channel: aio.Channel, request: Message | Sequence[Message], call_id: str
) -> Outcome:
    """Make the call and report its status; never raises for a status."""
    metadata = (("x-request-id", call_id),)
    argument = iter(request) if rpc.client_streaming else request
    call = rpc.callable(channel)(argument, timeout=CALL_TIMEOUT_S, metadata=metadata)
    try:
        if not rpc.server_streaming:
            await call
            return Outcome(grpc.StatusCode.OK, "", 1)
        limit = None if writes(rpc.request_type) else READ_LIMIT
        return await _read(call, limit)
    except aio.AioRpcError as error:
        return Outcome(error.code(), error.details() or "")


async def _read(call: aio.Call, limit: int | None) -> Outcome:
    """Every reply, or up to `limit`: the first (or the status) however long it takes,
    then each within READ_IDLE_S, else the stream is cut."""
    replies = 0
    while limit is None or replies < limit:
        read = asyncio.ensure_future(call.read())
        idle = None if limit is None or not replies else READ_IDLE_S
        done, _ = await asyncio.wait({read}, timeout=idle)
        if not done:
            return await _cut(call, read, replies)
        if read.result() is aio.EOF:
            return Outcome(await call.code(), await call.details() or "", replies)
        replies += 1
    return await _cut(call, None, replies)


async def _cut(call: aio.Call, pending: asyncio.Future[object] | None, replies: int) -> Outcome:
    call.cancel()
    if pending is not None:
        with contextlib.suppress(asyncio.CancelledError, aio.AioRpcError):
            await pending
    return Outcome(grpc.StatusCode.CANCELLED, "cancelled by the fuzz net", replies, cut=True)
