"""EventService: ListEvents (the audit trail) and SubscribeEvents (the live feed)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from grpc import aio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from masterdata.server.api.registration import ServiceRegistry
from masterdata.server.events.hub import FeedHub
from masterdata.server.events.listener import PostgresListener, asyncpg_dsn
from masterdata.server.events.service import EventService
from masterdata.server.events.store import SqlEventStore
from masterdata.server.resources.runtime import Runtime
from masterdata.server.storage.unit_of_work import EVENT_CHANNEL
from masterdata.v1 import events_pb2, events_pb2_grpc


class EventServicer(events_pb2_grpc.EventServiceServicer):
    """Translates requests and responses; the feed itself lives in masterdata.server.events."""

    def __init__(self, events: EventService) -> None:
        self._events = events

    async def ListEvents(
        self, request: events_pb2.ListEventsRequest, context: aio.ServicerContext
    ) -> events_pb2.ListEventsResponse:
        page = await self._events.list_events(request)
        return events_pb2.ListEventsResponse(
            events=page.events, next_page_token=page.next_page_token
        )

    async def SubscribeEvents(
        self, request: events_pb2.SubscribeEventsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[events_pb2.SubscribeEventsResponse | bytes]:
        async for item in self._events.subscribe(request):
            yield item


def build_hub(runtime: Runtime) -> FeedHub:
    """The process's one hub, listening for notifications on PostgreSQL."""
    db, settings = runtime.db, runtime.settings
    pages = SqlEventStore(db.reader)
    hub = FeedHub(
        SqlEventStore(_feed_engine(runtime), owns_engine=True) if db.is_postgres else pages,
        pages=pages,
        poll_interval_s=settings.feed_poll_interval_s,
        batch_size=settings.feed_batch_size,
        retained_events=settings.feed_retained_events,
        calls=runtime.unary_calls,
    )
    if db.is_postgres:
        hub.listener = PostgresListener(
            asyncpg_dsn(db.reader.url.render_as_string(hide_password=False)),
            EVENT_CHANNEL,
            hub.wake,
            connect_timeout_s=settings.connect_timeout_s,
        )
    return hub


def _feed_engine(runtime: Runtime) -> AsyncEngine:
    """One connection of its own for the hub's reads on PostgreSQL.

    Writers and readers share one pool there, and the pool does not hand
    connections out fairly: under a write burst that occupies every connection,
    the hub could wait for one long enough to stall every subscriber.
    """
    settings = runtime.settings
    return create_async_engine(
        runtime.db.reader.url,
        pool_size=1,
        max_overflow=0,
        pool_timeout=settings.pool_timeout_s,
        connect_args={"timeout": settings.connect_timeout_s, "command_timeout": 60},
    )


def add_to_server(server: ServiceRegistry, runtime: Runtime) -> None:
    """Register the servicer and tie the hub to the server's lifecycle."""
    hub = runtime.feed = build_hub(runtime)
    runtime.on_events_committed.append(hub.hint)
    runtime.on_start.append(hub.start)
    runtime.on_stop.append(hub.stop)
    service = EventService(hub.pages, hub, runtime.settings)
    events_pb2_grpc.add_EventServiceServicer_to_server(EventServicer(service), server)


def feed_hub(runtime: Runtime) -> FeedHub:
    """The hub `add_to_server` attached to `runtime` (for tests, metrics, benchmarks)."""
    if runtime.feed is None:
        raise LookupError("no event feed hub is attached to this runtime")
    return runtime.feed
