"""EventService's reads: the audit trail (ListEvents) and the feed (SubscribeEvents)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from masterdata.server.config import Settings
from masterdata.server.domain.errors import FieldViolation, InvalidArgument, ViolationCollector
from masterdata.server.events.hub import FeedHub
from masterdata.server.events.store import EventFilter, SqlEventStore
from masterdata.server.events.subscription import Subscription
from masterdata.server.repositories.query import (
    FieldKind,
    clamp_page_size,
    decode_page_token,
    encode_page_token,
    query_fingerprint,
)
from masterdata.server.resources.ids import parse_id
from masterdata.v1 import events_pb2

#: Most values accepted in one repeated filter field (aggregate_types, event_types).
MAX_FILTER_VALUES = 100
#: Most events per SubscribeEvents item a client may ask for (max_batch_size).
MAX_EVENT_BATCH = 1000


@dataclass(frozen=True)
class EventPage:
    """One page of the audit trail."""

    events: list[events_pb2.Event]
    next_page_token: str


class EventReads:
    """Reads of the event log; writes happen in every other service's unit of work."""

    def __init__(self, store: SqlEventStore, hub: FeedHub, settings: Settings) -> None:
        self._store = store
        self._hub = hub
        self._settings = settings

    async def list_events(self, request: events_pb2.ListEventsRequest) -> EventPage:
        """Events after `after_sequence` matching the filters, in sequence order."""
        problems = ViolationCollector()
        aggregate_id = (
            problems.check(lambda: parse_id(request.aggregate_id, "aggregate_id"), None)
            if request.aggregate_id
            else None
        )
        where = EventFilter(
            aggregate_types=frozenset([request.aggregate_type] if request.aggregate_type else []),
            event_types=problems.check(
                lambda: _values(request.event_types, "event_types"), frozenset()
            ),
            aggregate_id=aggregate_id,
        )
        start = problems.check(lambda: _after_sequence(request.after_sequence), 0)
        settings = self._settings
        size = problems.check(
            lambda: clamp_page_size(
                request.page_size, settings.default_page_size, settings.max_page_size
            ),
            settings.default_page_size,
        )
        fingerprint = query_fingerprint(
            "events", request.aggregate_type, str(where.aggregate_id), *sorted(where.event_types)
        )
        if request.page_token:
            [start] = problems.check(
                lambda: decode_page_token(request.page_token, fingerprint, [FieldKind.INTEGER]),
                [start],
            )
        problems.raise_if_any()
        events = await self._store.select_events(gt=start, limit=size + 1, where=where)
        if len(events) <= size:
            return EventPage(events, "")
        events = events[:size]
        return EventPage(events, encode_page_token([events[-1].sequence], fingerprint))

    def subscribe(
        self, request: events_pb2.SubscribeEventsRequest
    ) -> AsyncIterator[events_pb2.SubscribeEventsResponse | bytes]:
        """The stream of one subscription (INVALID_ARGUMENT at once for a bad request)."""
        where = EventFilter(
            aggregate_types=_values(request.aggregate_types, "aggregate_types"),
            event_types=_values(request.event_types, "event_types"),
        )
        subscription = Subscription(
            self._hub,
            where,
            _after_sequence(request.after_sequence),
            heartbeat_s=self._settings.heartbeat_interval_s,
            batch_size=_batch_size(request.max_batch_size),
        )
        return subscription.responses()


def _values(values: Sequence[str], field: str) -> frozenset[str]:
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidArgument(
            f"{field} takes at most {MAX_FILTER_VALUES} values",
            violations=[FieldViolation(field, f"at most {MAX_FILTER_VALUES}", "TOO_MANY_VALUES")],
        )
    return frozenset(values)


def _after_sequence(value: int) -> int:
    if value < 0:
        raise InvalidArgument(
            "after_sequence must not be negative",
            violations=[FieldViolation("after_sequence", "must be >= 0", "INVALID_SEQUENCE")],
        )
    return value


def _batch_size(value: int) -> int:
    if not 0 <= value <= MAX_EVENT_BATCH:
        description = f"must be 0-{MAX_EVENT_BATCH}"
        raise InvalidArgument(
            f"max_batch_size {description}",
            violations=[FieldViolation("max_batch_size", description, "OUT_OF_RANGE")],
        )
    return max(1, value)
