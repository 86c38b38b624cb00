"""The position of a resumable event subscription, and the pause between reconnects.

Shared by the async and the blocking subscriber, which differ only in how they wait.
The position moves past every event delivered and to the `head_sequence` of
`caught_up` and heartbeats (the server promises every matching event up to it was
sent), so a resumed stream starts exactly after what this one already covered: no
event is skipped and none is delivered twice, even when a server replays one.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc

from masterdata.client.errors import MasterdataError
from masterdata.v1 import events_pb2

#: Failures after which a subscription reconnects instead of raising.
RESUMABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,  # restart, shutdown, network, database outage
        grpc.StatusCode.RESOURCE_EXHAUSTED,  # rate limit or stream cap: wait retry_after
        grpc.StatusCode.DEADLINE_EXCEEDED,  # a deadline the caller set on the feed
    }
)
#: Events per stream item the SDK asks for: one message per event costs the server
#: and the client far more than the event itself on busy feeds. Callers still see
#: one item per event (FeedCursor.accept splits the batches).
FEED_BATCH_SIZE = 500
#: An event type no event has: a subscription filtered by it reads no rows and
#: answers `caught_up` with the current head (an index lookup on the server).
HEAD_PROBE_TYPE = "masterdata.client.head_probe"


class IdleTimeout(Exception):
    """The stream sent nothing (not even a heartbeat) for too long: reconnect."""


@dataclass
class FeedCursor:
    """What to subscribe to and how far the subscriber got."""

    position: int = 0
    aggregate_types: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()

    def request(self) -> events_pb2.SubscribeEventsRequest:
        return events_pb2.SubscribeEventsRequest(
            after_sequence=self.position,
            aggregate_types=self.aggregate_types,
            event_types=self.event_types,
            max_batch_size=FEED_BATCH_SIZE,
        )

    def accept(
        self, item: events_pb2.SubscribeEventsResponse
    ) -> list[events_pb2.SubscribeEventsResponse]:
        """The items to hand out for a received one (a batch becomes one item per
        event), without those at or before the position, which moves past them."""
        if item.WhichOneof("kind") != "events":
            return [item] if self.advance(item) else []
        singles = [events_pb2.SubscribeEventsResponse(event=e) for e in item.events.events]
        return [single for single in singles if self.advance(single)]

    def advance(self, item: events_pb2.SubscribeEventsResponse) -> bool:
        """Move past `item`; False when it is an event at or before the position."""
        kind = item.WhichOneof("kind")
        if kind == "event":
            if item.event.sequence <= self.position:
                return False
            self.position = item.event.sequence
        elif kind == "caught_up":
            self.position = max(self.position, item.caught_up.head_sequence)
        elif kind == "heartbeat":
            self.position = max(self.position, item.heartbeat.head_sequence)
        return True


@dataclass
class Backoff:
    """Exponential pause between reconnects with jitter, reset by any received item."""

    initial_s: float = 0.1
    maximum_s: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2
    _attempt: int = field(default=0, repr=False)

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self, at_least: float | None = None) -> float:
        delay = min(self.maximum_s, self.initial_s * self.multiplier**self._attempt)
        self._attempt += 1
        delay *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(delay, at_least or 0.0)


def resume_delay(error: BaseException | None, backoff: Backoff) -> float:
    """How long to wait before resubscribing after `error` (None: the stream ended).

    Raises the error when it is not one a subscription survives.
    """
    if isinstance(error, MasterdataError):
        if error.code not in RESUMABLE_CODES:
            raise error
        return backoff.next_delay(error.retry_after)
    return backoff.next_delay()


def make_cursor(
    after_sequence: int, aggregate_types: Iterable[str], event_types: Iterable[str]
) -> FeedCursor:
    return FeedCursor(after_sequence, tuple(aggregate_types), tuple(event_types))


def head_probe() -> events_pb2.SubscribeEventsRequest:
    return events_pb2.SubscribeEventsRequest(after_sequence=0, event_types=[HEAD_PROBE_TYPE])
