"""`Client`: the async SDK — typed stubs on a channel with retries, deadlines and errors.

    async with Client("127.0.0.1:50051", token=...) as client:
        reply = await client.commodities.GetCommodity(GetCommodityRequest(id=...))

Every stub attribute is the generated masterdata.v1 stub on one grpc.aio channel
whose interceptor fills request_id, sets default deadlines, sends the token and
raises `MasterdataError`; grpc retries UNAVAILABLE by the channel's service config.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

from google.protobuf.message import Message
from grpc import aio

from masterdata.client import bulk
from masterdata.client import subscribe as resumable
from masterdata.client.base import ClientBase
from masterdata.client.config import ConnectionConfig
from masterdata.client.feed import FeedCursor, make_cursor
from masterdata.client.interceptors import policy_interceptors
from masterdata.client.policy import CallPolicy
from masterdata.client.resources import NEXT_PAGE_TOKEN, items_field
from masterdata.v1 import (
    events_pb2,
)

if TYPE_CHECKING:
    from grpc_health.v1.health_pb2_grpc import HealthStub

    from masterdata.v1.commodity_pb2_grpc import CommodityServiceAsyncStub
    from masterdata.v1.events_pb2_grpc import EventServiceAsyncStub
    from masterdata.v1.location_pb2_grpc import LocationServiceAsyncStub
    from masterdata.v1.organization_pb2_grpc import OrganizationServiceAsyncStub
    from masterdata.v1.trade_terms_pb2_grpc import TradeTermsServiceAsyncStub

T = TypeVar("T")
_DONE = object()


class Client(ClientBase):
    """Async client of every masterdata.v1 service (arguments: see ClientBase)."""

    locations: LocationServiceAsyncStub
    organizations: OrganizationServiceAsyncStub
    commodities: CommodityServiceAsyncStub
    trade_terms: TradeTermsServiceAsyncStub
    events: EventServiceAsyncStub
    health: HealthStub
    channel: aio.Channel

    def _open(self, config: ConnectionConfig) -> aio.Channel:
        interceptors = policy_interceptors(CallPolicy(config))
        if config.secure:
            return aio.secure_channel(
                config.target, config.credentials(), config.channel_options(), None, interceptors
            )
        return aio.insecure_channel(config.target, config.channel_options(), None, interceptors)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, grace: float | None = None) -> None:
        await self.channel.close(grace)

    async def list_all(
        self, resource_name: str, request: Message | None = None, *, page_size: int = 1000
    ) -> AsyncIterator[Any]:
        """Every item of a List method, page after page ("commodities", "locations", ...).

        `request` (of the List request type) gives the filter, order_by, show_deleted
        or parent id; its page_size and page_token are managed here.
        """
        call, page = self._list_call(resource_name, request, page_size)
        async for item in _pages(call, page):
            yield item

    async def head_sequence(self) -> int:
        """The sequence of the newest event in the feed (0 when empty)."""
        return await resumable.head_sequence(self.events)

    def subscribe(
        self,
        after_sequence: int = 0,
        aggregate_types: Iterable[str] = (),
        event_types: Iterable[str] = (),
        *,
        idle_timeout_s: float | None = resumable.IDLE_TIMEOUT_S,
    ) -> AsyncIterator[events_pb2.Event]:
        """Events after `after_sequence`, forever, resuming by itself after failures.

        Reconnects (with backoff) after UNAVAILABLE, a server restart or `idle_timeout_s`
        of silence, from the last position; no event is lost or repeated. Other
        errors (e.g. PERMISSION_DENIED) are raised as MasterdataError.
        """
        cursor = make_cursor(after_sequence, aggregate_types, event_types)
        return resumable.resumable_events(self.events, cursor, idle_timeout_s=idle_timeout_s)

    def subscribe_items(
        self, cursor: FeedCursor, *, idle_timeout_s: float | None = resumable.IDLE_TIMEOUT_S
    ) -> AsyncGenerator[events_pb2.SubscribeEventsResponse, None]:
        """Like `subscribe`, but every stream item (caught_up markers, heartbeats too)."""
        return resumable.resumable_items(self.events, cursor, idle_timeout_s=idle_timeout_s)

    async def import_commodities(
        self,
        source: bulk.ImportSource,
        *,
        upsert: bool = False,
        validate_only: bool = False,
        atomic: bool = False,
        batch_size: int | None = None,
        request_id: str | None = None,
        strict: bool = False,
        on_progress: Callable[[bulk.ImportProgress], Any] | None = None,
    ) -> bulk.ImportResult:
        """Import a CSV/XLSX file (path, bytes, binary file) or Commodity messages.

        CSV and messages stream through UploadCommodities (any size); XLSX goes whole
        through ImportCommodities. `on_progress` gets an ImportProgress after every
        server batch and the summary. Row errors are collected, not raised. A file's
        header cells that name no column are listed in `summary.ignored_columns` (and
        `summary.warnings`); with `strict` they are INVALID_ARGUMENT instead.
        """
        options = bulk.import_options(
            upsert=upsert, validate_only=validate_only, atomic=atomic,
            batch_size=batch_size, request_id=request_id, strict=strict,
        )  # fmt: skip
        if bulk.is_xlsx(source):
            request = await asyncio.to_thread(bulk.xlsx_request, source, options)  # type: ignore[arg-type]
            size = len(request.xlsx_data)
            collector = bulk.ImportCollector(options.request_id, on_progress, lambda: size, size)
            responses: Any = self.commodities.ImportCommodities(request)
        else:
            requests = bulk.UploadRequests(source, options)
            collector = bulk.ImportCollector(
                options.request_id, on_progress, lambda: requests.bytes_sent,
                bulk.total_bytes(source),
            )  # fmt: skip
            responses = self.commodities.UploadCommodities(_in_thread(iter(requests)))
        async for response in responses:
            collector.add(response)
        return collector.finish()

    async def export_commodities(
        self,
        destination: bulk.Destination,
        *,
        format: bulk.ExportFormatName = "csv",
        filter: str = "",
        include_varieties: bool = False,
        on_progress: Callable[[bulk.ExportProgress], Any] | None = None,
    ) -> int:
        """Stream an export into a path or binary file; returns the data rows written."""
        request = bulk.export_request(format, filter, include_varieties)
        writer = await asyncio.to_thread(bulk.ExportWriter, destination, format)
        try:
            async for response in self.commodities.ExportCommodities(request):
                progress = await asyncio.to_thread(writer.write, response.chunk)
                if on_progress is not None:
                    on_progress(progress)
        finally:
            rows = await asyncio.to_thread(writer.close)
        return rows


async def _pages(call: Any, request: Any) -> AsyncIterator[Any]:
    field = None
    while True:
        response = await call(request)
        field = field or items_field(response.DESCRIPTOR)
        assert field is not None
        for item in getattr(response, field.name):
            yield item
        token = getattr(response, NEXT_PAGE_TOKEN)
        if not token:
            return
        request.page_token = token


async def _in_thread(iterator: Iterator[T]) -> AsyncIterator[T]:
    """Drive a blocking iterator (file reads) from worker threads, one item at a time."""
    while (item := await asyncio.to_thread(next, iterator, _DONE)) is not _DONE:
        yield item  # type: ignore[misc]
