"""`SyncClient`: the blocking twin of `Client` for scripts and threads.

Same configuration, same retries, deadlines, request_id filling and
MasterdataError; stubs are the generated sync stubs, `subscribe` a plain iterator.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import grpc
from google.protobuf.message import Message

from masterdata.client import bulk
from masterdata.client.base import ClientBase
from masterdata.client.config import ConnectionConfig
from masterdata.client.errors import MasterdataError
from masterdata.client.feed import Backoff, FeedCursor, head_probe, make_cursor, resume_delay
from masterdata.client.policy import CallPolicy
from masterdata.client.resources import NEXT_PAGE_TOKEN, items_field
from masterdata.client.sync_interceptors import SyncPolicyInterceptor
from masterdata.v1 import (
    events_pb2,
)


class SyncClient(ClientBase):
    """Blocking client of every masterdata.v1 service; arguments as for `Client`."""

    def _open(self, config: ConnectionConfig) -> grpc.Channel:
        options = config.channel_options()
        self._raw_channel = (
            grpc.secure_channel(config.target, config.credentials(), options)
            if config.secure
            else grpc.insecure_channel(config.target, options)
        )
        return grpc.intercept_channel(self._raw_channel, SyncPolicyInterceptor(CallPolicy(config)))

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._raw_channel.close()

    def list_all(
        self, resource_name: str, request: Message | None = None, *, page_size: int = 1000
    ) -> Iterator[Any]:
        """Every item of a List method, page after page (see `Client.list_all`)."""
        call, page = self._list_call(resource_name, request, page_size)
        while True:
            response = call(page)
            field = items_field(response.DESCRIPTOR)
            assert field is not None
            yield from getattr(response, field.name)
            if not (token := getattr(response, NEXT_PAGE_TOKEN)):
                return
            page.page_token = token

    def head_sequence(self) -> int:
        """The sequence of the newest event in the feed (0 when empty)."""
        call: Any = self.events.SubscribeEvents(head_probe())
        try:
            for item in call:
                if item.WhichOneof("kind") == "caught_up":
                    return int(item.caught_up.head_sequence)
        finally:
            call.cancel()
        raise RuntimeError("SubscribeEvents ended without caught_up")

    def subscribe(
        self,
        after_sequence: int = 0,
        aggregate_types: Iterable[str] = (),
        event_types: Iterable[str] = (),
    ) -> Iterator[events_pb2.Event]:
        """Events after `after_sequence`, forever, resuming after UNAVAILABLE/restarts."""
        cursor = make_cursor(after_sequence, aggregate_types, event_types)
        for item in self.subscribe_items(cursor):
            if item.WhichOneof("kind") == "event":
                yield item.event

    def subscribe_items(
        self, cursor: FeedCursor, *, backoff: Backoff | None = None
    ) -> Iterator[events_pb2.SubscribeEventsResponse]:
        """Every stream item, resuming from `cursor` (see `Client.subscribe_items`)."""
        backoff = backoff or Backoff()
        while True:
            call: Any = self.events.SubscribeEvents(cursor.request())
            error: MasterdataError | None = None
            try:
                for item in call:
                    backoff.reset()
                    yield from cursor.accept(item)
            except MasterdataError as failure:
                error = failure
            finally:
                call.cancel()
            time.sleep(resume_delay(error, backoff))

    def import_commodities(
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
        """Import a file or Commodity messages (see `Client.import_commodities`)."""
        options = bulk.import_options(
            upsert=upsert, validate_only=validate_only, atomic=atomic,
            batch_size=batch_size, request_id=request_id, strict=strict,
        )  # fmt: skip
        if bulk.is_xlsx(source):
            request = bulk.xlsx_request(source, options)  # type: ignore[arg-type]
            size = len(request.xlsx_data)
            collector = bulk.ImportCollector(options.request_id, on_progress, lambda: size, size)
            responses: Any = self.commodities.ImportCommodities(request)
        else:
            requests = bulk.UploadRequests(source, options)
            collector = bulk.ImportCollector(
                options.request_id, on_progress, lambda: requests.bytes_sent,
                bulk.total_bytes(source),
            )  # fmt: skip
            responses = self.commodities.UploadCommodities(iter(requests))
        for response in responses:
            collector.add(response)
        return collector.finish()

    def export_commodities(
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
        writer = bulk.ExportWriter(destination, format)
        try:
            for response in self.commodities.ExportCommodities(request):
                progress = writer.write(response.chunk)
                if on_progress is not None:
                    on_progress(progress)
        finally:
            rows = writer.close()
        return rows
