"""EventService: ListEvents (the audit trail) and SubscribeEvents (the live feed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from grpc import aio

from masterdata.server.api.registration import ServiceRegistry
from masterdata.server.events.reads import EventReads
from masterdata.server.resources.runtime import Runtime
from masterdata.v1 import events_pb2, events_pb2_grpc


class EventServicer(events_pb2_grpc.EventServiceServicer):
    """Translates requests and responses; the feed itself lives in masterdata.server.events."""

    def __init__(self, events: EventReads) -> None:
        self._events = events

    async def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: aio.ServicerContext[Any, Any]
    ) -> events_pb2.ListEventsResponse:
        page = await self._events.list_events(request)
        return events_pb2.ListEventsResponse(
            events=page.events, next_page_token=page.next_page_token
        )

    # Also yields responses serialized once for all subscribers, which the call boundary's
    # response serializer passes through: wider than the generated signature.
    async def SubscribeEvents(  # type: ignore[override]
        self, request: events_pb2.SubscribeEventsRequest, context: aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[events_pb2.SubscribeEventsResponse | bytes]:
        async for item in self._events.subscribe(request):
            yield item


def add_to_server(server: ServiceRegistry, runtime: Runtime) -> None:
    """Register the servicer over the runtime's feed (built and started by app.py)."""
    reads = EventReads(runtime.feed.pages, runtime.feed, runtime.settings)
    events_pb2_grpc.add_EventServiceServicer_to_server(EventServicer(reads), server.as_server())
