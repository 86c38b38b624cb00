"""The async resumable subscription: SubscribeEvents that survives restarts and outages.

A server shutting down ends streams with UNAVAILABLE, a killed one drops the
connection, a hung network sends nothing: in each case the subscriber waits
(`Backoff`) and subscribes again after its `FeedCursor` position.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from masterdata.client.errors import MasterdataError
from masterdata.client.feed import Backoff, FeedCursor, IdleTimeout, head_probe, resume_delay
from masterdata.v1 import events_pb2

if TYPE_CHECKING:
    from masterdata.v1.events_pb2_grpc import EventServiceAsyncStub

#: Heartbeats come every 5 s by default; after this long without one, reconnect.
IDLE_TIMEOUT_S = 60.0


async def resumable_items(
    stub: EventServiceAsyncStub,
    cursor: FeedCursor,
    *,
    backoff: Backoff | None = None,
    idle_timeout_s: float | None = IDLE_TIMEOUT_S,
) -> AsyncGenerator[events_pb2.SubscribeEventsResponse, None]:
    """Every stream item (events, caught_up per connection, heartbeats), forever."""
    backoff = backoff or Backoff()
    while True:
        call: Any = stub.SubscribeEvents(cursor.request())
        error: BaseException | None = None
        try:
            items = aiter(call)
            while True:
                try:
                    async with asyncio.timeout(idle_timeout_s):
                        item = await anext(items)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise IdleTimeout from None
                backoff.reset()
                for single in cursor.accept(item):
                    yield single
        except (MasterdataError, IdleTimeout) as failure:
            error = failure
        finally:
            call.cancel()
        await asyncio.sleep(resume_delay(error, backoff))


async def resumable_events(
    stub: EventServiceAsyncStub, cursor: FeedCursor, **options: Any
) -> AsyncIterator[events_pb2.Event]:
    """Only the events of `resumable_items`, each exactly once, in sequence order."""
    items = resumable_items(stub, cursor, **options)
    try:
        async for item in items:
            if item.WhichOneof("kind") == "event":
                yield item.event
    finally:
        await items.aclose()


async def head_sequence(stub: EventServiceAsyncStub) -> int:
    """The feed's current last sequence (see `feed.HEAD_PROBE_TYPE`)."""
    call: Any = stub.SubscribeEvents(head_probe())
    try:
        async for item in call:
            if item.WhichOneof("kind") == "caught_up":
                return int(item.caught_up.head_sequence)
    finally:
        with contextlib.suppress(Exception):
            call.cancel()
    raise RuntimeError("SubscribeEvents ended without caught_up")
