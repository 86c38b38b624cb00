"""Helpers of the event-feed tests: subscribers that record what they receive, paging."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message import Message
from grpc import aio

from masterdata.server.app import App
from masterdata.server.events.hub import FeedHub
from masterdata.server.families.locations import LOCATION
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import record_event
from masterdata.server.storage.models.location import LocationRow
from masterdata.v1 import (
    commodity_pb2,
    events_pb2,
    events_pb2_grpc,
    location_pb2,
    organization_pb2,
    trade_terms_pb2,
)

Response = events_pb2.SubscribeEventsResponse


def hub_of(app: App) -> FeedHub:
    return app.runtime.feed


@dataclass
class Recorder:
    """A subscriber running in the background, keeping everything it receives."""

    stub: events_pb2_grpc.EventServiceStub
    request: events_pb2.SubscribeEventsRequest
    events: list[events_pb2.Event] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    heartbeats: list[events_pb2.Heartbeat] = field(default_factory=list)
    caught_up: list[int] = field(default_factory=list)
    error: aio.AioRpcError | None = None
    _call: Any = None
    _task: asyncio.Task[None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def sequences(self) -> list[int]:
        return [event.sequence for event in self.events]

    def start(self) -> Recorder:
        self._call = self.stub.SubscribeEvents(self.request)
        self._task = asyncio.create_task(self._consume())
        return self

    async def _consume(self) -> None:
        try:
            async for item in self._call:
                kind = item.WhichOneof("kind")
                self.kinds.append(kind)
                if kind == "event":
                    self.events.append(item.event)
                elif kind == "events":
                    self.events.extend(item.events.events)
                elif kind == "caught_up":
                    self.caught_up.append(item.caught_up.head_sequence)
                else:
                    self.heartbeats.append(item.heartbeat)
                self._changed.set()
        except aio.AioRpcError as error:
            self.error = error
        finally:
            self._changed.set()

    async def wait_until(self, predicate: Any, timeout_s: float = 10.0) -> None:
        """Wait until predicate(self) holds; fail with what was received otherwise."""
        async with asyncio.timeout(timeout_s):
            while not predicate(self):
                if self._task is not None and self._task.done() and not predicate(self):
                    raise AssertionError(f"stream ended: {self.error}; got {self.sequences[-5:]}")
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_sequence(self, sequence: int, timeout_s: float = 10.0) -> None:
        await self.wait_until(lambda r: r.events and r.events[-1].sequence >= sequence, timeout_s)

    async def ended(self, timeout_s: float = 10.0) -> aio.AioRpcError | None:
        assert self._task is not None
        await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        return self.error

    async def cancel(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def subscribe(channel: aio.Channel, after_sequence: int = 0, **filters: Any) -> Recorder:
    stub = events_pb2_grpc.EventServiceStub(channel)
    request = events_pb2.SubscribeEventsRequest(after_sequence=after_sequence, **filters)
    return Recorder(stub, request).start()


@contextlib.asynccontextmanager
async def subscribed(
    channel: aio.Channel, after_sequence: int = 0, **filters: Any
) -> AsyncIterator[Recorder]:
    recorder = subscribe(channel, after_sequence, **filters)
    try:
        yield recorder
    finally:
        await recorder.cancel()


async def list_all(channel: aio.Channel, page_size: int = 1000, **filters: Any) -> list[Any]:
    """Every event ListEvents returns for the filters, following page tokens."""
    stub = events_pb2_grpc.EventServiceStub(channel)
    found: list[events_pb2.Event] = []
    token = ""
    while True:
        request = events_pb2.ListEventsRequest(page_size=page_size, page_token=token, **filters)
        reply = await stub.ListEvents(request)
        found.extend(reply.events)
        token = reply.next_page_token
        if not token:
            return found


def location_row(uow: Any, name: str) -> LocationRow:
    """A new location row stamped like the unit of work's other writes."""
    return LocationRow(
        id=uuid.uuid4(),
        name=name,
        create_time=uow.now,
        update_time=uow.now,
        created_by=uow.actor,
        updated_by=uow.actor,
        revision=1,
    )


async def write_location(runtime: Runtime, name: str = "yard") -> None:
    """One committed location.created straight through the unit of work."""
    async with runtime.unit_of_work(Caller(call_id=uuid.uuid4().hex[:16])) as uow:
        row = location_row(uow, name)
        uow.session.add(row)
        await uow.session.flush()
        record_event(uow, LOCATION, row, "created")
        await uow.commit()


def assert_exactly_once_in_order(received: list[int], expected: list[int]) -> None:
    assert received == sorted(set(received)), "not strictly increasing (duplicate or reorder)"
    missing = sorted(set(expected) - set(received))
    extra = sorted(set(received) - set(expected))
    assert not missing and not extra, f"missing {missing[:10]}, unexpected {extra[:10]}"


# ---- calling any RPC of the contract by name ----------------------------------

PB2_MODULES = (location_pb2, organization_pb2, commodity_pb2, trade_terms_pb2, events_pb2)


def method(rpc: str) -> MethodDescriptor:
    service, name = rpc.split("/")
    for module in PB2_MODULES:
        if service in module.DESCRIPTOR.services_by_name:
            return module.DESCRIPTOR.services_by_name[service].methods_by_name[name]
    raise LookupError(rpc)


async def call(channel: aio.Channel, rpc: str, request: Message | list[Message]) -> Any:
    """Invoke any RPC of the contract by name; streamed replies come back as a list.

    A client-streaming RPC takes the list of its request messages.
    """
    descriptor = method(rpc)
    path = f"/{descriptor.containing_service.full_name}/{descriptor.name}"
    codec = {
        "request_serializer": _serialize,
        "response_deserializer": message_factory.GetMessageClass(descriptor.output_type).FromString,
    }
    if descriptor.client_streaming:
        assert isinstance(request, list)
        return [reply async for reply in channel.stream_stream(path, **codec)(iter(request))]
    if descriptor.server_streaming:
        return [reply async for reply in channel.unary_stream(path, **codec)(request)]
    return await channel.unary_unary(path, **codec)(request)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


async def created(
    channel: aio.Channel, service: str, resource: str, module: ModuleType, **fields: Any
) -> Any:
    """Create a resource through its RPC and return it."""
    field = snake_case(resource)
    message = getattr(module, resource)(**fields)
    request = getattr(module, f"Create{resource}Request")(**{field: message})
    return getattr(await call(channel, f"{service}/Create{resource}", request), field)
