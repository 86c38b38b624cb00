"""OpenTelemetry: a server span per RPC continuing the caller's trace, database work as its
children, trace ids in JSON log lines; a real server and the real SDK, spans in memory."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from support import make_settings

from masterdata.client import Client
from masterdata.client.config import ConnectionConfig
from masterdata.client.policy import CallPolicy
from masterdata.server.app import App, build
from masterdata.server.observability import tracing
from masterdata.server.observability.logs import JsonFormatter
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database
from masterdata.v1 import location_pb2, location_pb2_grpc

CREATE = "/masterdata.v1.LocationService/CreateLocation"
GET = "/masterdata.v1.LocationService/GetLocation"


class Traced:
    """A server whose spans go to memory."""

    def __init__(self, app: App, exporter: InMemorySpanExporter):
        self.app, self.exporter = app, exporter
        self.target = f"127.0.0.1:{app.port}"

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def server_span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name and s.kind is SpanKind.SERVER]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.parent and s.parent.span_id == parent.context.span_id]


@pytest.fixture(scope="module")
async def traced(database_url: str) -> AsyncIterator[Traced]:
    """A second server on the suite's database of each backend, tracing into memory."""
    exporter = InMemorySpanExporter()
    provider = tracing.new_provider()  # as the server makes it, but exporting to memory
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings = make_settings(database_url, feed_poll_interval_s=0.05, health_interval_s=0.1)
    db = Database.connect(settings)
    await migrate.upgrade(db.writer)
    app = build(settings, db, tracer_provider=provider)
    await app.start()
    try:
        yield Traced(app, exporter)
    finally:
        await app.stop(0)


@pytest.fixture
def server(traced: Traced) -> Traced:
    """The module's traced server, with no spans recorded yet."""
    traced.exporter.clear()
    return traced


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The access log (`masterdata.rpc`) as the JSON format writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("masterdata.rpc")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield out
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_the_server_span_continues_the_callers_trace_through_the_sdk(
    server: Traced, json_log: io.StringIO
) -> None:
    caller = TracerProvider().get_tracer("a calling service")  # its own provider
    with caller.start_as_current_span("handle order") as outer:
        async with Client(server.target) as client:
            request = location_pb2.CreateLocationRequest(
                location=location_pb2.Location(name="Rajkot yard", state_code="GJ")
            )
            await client.locations.CreateLocation(request)
    span = server.server_span(CREATE)
    assert span.context.trace_id == outer.get_span_context().trace_id
    assert span.parent is not None and span.parent.span_id == outer.get_span_context().span_id
    assert span.attributes is not None and span.attributes["rpc.method"] == "CreateLocation"

    statements = server.children(span)
    assert statements and all(s.kind is SpanKind.CLIENT for s in statements)
    assert {(s.attributes or {}).get("db.system") for s in statements} <= {"sqlite", "postgresql"}

    [line] = [json.loads(x) for x in json_log.getvalue().splitlines() if CREATE in x]
    assert line["trace_id"] == format(outer.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.context.span_id, "016x")


async def test_reads_have_database_spans_too(server: Traced) -> None:
    """On PostgreSQL, Get reads through the row reader's own asyncpg pool."""
    async with Client(server.target) as client:
        created = await client.locations.CreateLocation(
            location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Akola"))
        )
        await client.locations.GetLocation(location_pb2.GetLocationRequest(id=created.location.id))
    get = server.server_span(GET)
    assert server.children(get)


async def test_a_call_without_traceparent_starts_a_trace(server: Traced) -> None:
    async with aio.insecure_channel(server.target) as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        await stub.CreateLocation(
            location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Guntur"))
        )
    assert server.server_span(CREATE).parent is None


async def test_a_failed_call_records_its_status_code(server: Traced) -> None:
    """The caller's mistake: the code is recorded, the span is not an error (a server span
    is one only for the server's faults, as the semantic conventions for gRPC say)."""
    async with aio.insecure_channel(server.target) as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        with pytest.raises(aio.AioRpcError):
            await stub.GetLocation(location_pb2.GetLocationRequest(id="not-a-uuid"))
    span = server.server_span(GET)
    assert (span.attributes or {})["rpc.grpc.status_code"] == 3  # INVALID_ARGUMENT
    assert span.status.status_code is StatusCode.UNSET


async def test_health_reflection_and_background_work_make_no_spans(server: Traced) -> None:
    async with aio.insecure_channel(server.target) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await asyncio.sleep(0.5)  # the feed polls every 50 ms, health probes every 100 ms
    assert server.spans() == []


def test_the_sdk_puts_the_current_context_in_the_metadata() -> None:
    """Both clients (aio and blocking) go through CallPolicy."""
    policy = CallPolicy(ConnectionConfig(target="127.0.0.1:1"))
    outside = policy.prepare(CREATE, None, None)
    assert "traceparent" not in dict(outside.metadata)
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("caller") as span:
        inside = policy.prepare(CREATE, None, [("x", "y")])
    context = span.get_span_context()
    flags = int(context.trace_flags)
    expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
    assert dict(inside.metadata)["traceparent"] == expected


@pytest.mark.parametrize(
    ("environ", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, True),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_SERVICE_NAME": "masterdata"}, False),
    ],
)
def test_off_unless_the_environment_asks(environ: dict[str, str], on: bool) -> None:
    assert tracing.configured(environ) is on


def test_an_exporter_that_is_not_installed_is_a_setup_mistake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(tracing.TracingConfigError, match="zipkin"):
        tracing.provider_from_environment()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    provider = tracing.provider_from_environment()
    assert provider is not None
    provider.shutdown()


async def test_without_configuration_nothing_is_installed(tmp_path: Any) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'off.db'}")
    db = Database.connect(settings)
    await migrate.upgrade(db.writer)
    factory = logging.getLogRecordFactory()
    app = build(settings, db)
    try:
        assert app.tracing is None
        assert logging.getLogRecordFactory() is factory
    finally:
        await app.runtime.db.dispose()
