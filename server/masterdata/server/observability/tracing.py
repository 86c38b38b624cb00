"""OpenTelemetry tracing: off unless the standard OTEL_* variables turn it on.

With the `otel` extra installed, tracing is on when OTEL_TRACES_EXPORTER names an
exporter other than `none` (`otlp`, `console`, ...) or an OTLP endpoint is set
(OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), and
OTEL_SDK_DISABLED is not true. Service name, resource attributes, sampler and batching
come from the SDK's own variables (OTEL_SERVICE_NAME, OTEL_TRACES_SAMPLER, OTEL_BSP_*).

When on, each masterdata RPC is a server span that continues the caller's W3C
`traceparent` (opentelemetry-instrumentation-grpc's aio interceptor), database
statements are its child spans, and log records made inside a span carry `trace_id`
and `span_id` (shown by the JSON log format). When off, nothing is installed: no
interceptor, no instrumentation, no log hook, so a call costs what it did before.
Database spans outside an RPC (the feed's polls, health probes) are not recorded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from grpc import aio

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from masterdata.server.storage.engine import Database

log = logging.getLogger("masterdata.tracing")


class TracingConfigError(ValueError):
    """OTEL_TRACES_EXPORTER names an exporter that is not installed."""


#: Only the contract's calls get a server span (not health checks or reflection).
TRACED_SERVICES = "masterdata."
_OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configured(environ: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    """Whether the OTEL_* variables ask for traces (the SDK itself is not consulted)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return any(environ.get(name, "").strip() for name in _OTLP_ENDPOINTS)


def provider_from_environment() -> TracerProvider | None:
    """A tracer provider with the exporters OTEL_TRACES_EXPORTER names (default otlp),
    or None when tracing is off or the `otel` extra is not installed."""
    if not configured():
        return None
    try:
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_* variables ask for traces but masterdata[otel] is not installed")
        return None
    provider = new_provider()
    names = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    for name in (n.strip() for n in names.split(",")):
        found = entry_points(group="opentelemetry_traces_exporter", name=_entry_point(name))
        if not found:
            raise TracingConfigError(f"OTEL_TRACES_EXPORTER: no span exporter {name!r} installed")
        exporter = next(iter(found)).load()()
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def new_provider() -> TracerProvider:
    """A provider with the sampler OTEL_TRACES_SAMPLER configures (the SDK's default:
    parent-based, always on), recording spans without a parent only for calls."""
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider(sampler=_within_calls(TracerProvider().sampler))


def _entry_point(name: str) -> str:
    """`otlp` is the exporter of the OTLP protocol configured (grpc by default), as the
    SDK's own configuration reads it."""
    if name != "otlp":
        return name
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    )
    return "otlp_proto_http" if protocol.strip() == "http/protobuf" else "otlp_proto_grpc"


def _within_calls(inner: Any) -> Any:
    """The configured sampler, except that a span with no parent is recorded only if it
    is a call's server span: statements of background work would be traces of their own."""
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
    from opentelemetry.trace import SpanKind, get_current_span

    class WithinCalls(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            parent = get_current_span(parent_context).get_span_context()
            if not parent.is_valid and kind is not SpanKind.SERVER:
                return SamplingResult(Decision.DROP)
            return inner.should_sample(  # type: ignore[no-any-return]
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"WithinCalls({inner.get_description()})"

    return WithinCalls()


@dataclass
class Tracing:
    """What tracing installed in this process, so that `close` can take it out again."""

    provider: TracerProvider
    interceptors: Sequence[aio.ServerInterceptor]
    #: Whether `close` shuts the provider down (one made from the environment), or its
    #: owner does (one handed in, as tests do).
    owns_provider: bool
    _undo: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def install(
        cls, provider: TracerProvider, db: Database, *, embedded: bool, owns_provider: bool
    ) -> Tracing:
        """The server interceptor, database spans and log correlation, for `provider`."""
        from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

        interceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
            tracer_provider=provider, filter_=filters.service_prefix(TRACED_SERVICES)
        )
        tracing = cls(provider, [interceptor], owns_provider)
        tracing._instrument_database(db, embedded=embedded)
        tracing._correlate_logs()
        return tracing

    def _instrument_database(self, db: Database, *, embedded: bool) -> None:
        """Statement spans at the lowest layer every query passes: SQLAlchemy's engines
        for an embedded database, the asyncpg driver for a server (SQLAlchemy, the Get
        row reader and the event append all reach PostgreSQL through it)."""
        if embedded:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            sqlalchemy = SQLAlchemyInstrumentor()
            engines = [engine.sync_engine for engine in dict.fromkeys((db.writer, db.reader))]
            # Its declared range ends below SQLAlchemy 2.1, whose engine events it uses
            # unchanged; tests/test_tracing.py proves the statement spans on SQLite.
            sqlalchemy.instrument(
                tracer_provider=self.provider, engines=engines, skip_dep_check=True
            )
            self._undo.append(sqlalchemy.uninstrument)
        else:
            from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

            asyncpg = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
            asyncpg.instrument(tracer_provider=self.provider)
            self._undo.append(asyncpg.uninstrument)

    def _correlate_logs(self) -> None:
        """Log records made inside a span carry its trace and span ids."""
        from opentelemetry.trace import get_current_span

        previous = logging.getLogRecordFactory()

        def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            made = previous(*args, **kwargs)
            context = get_current_span().get_span_context()
            if context.is_valid:
                made.trace_id = format(context.trace_id, "032x")
                made.span_id = format(context.span_id, "016x")
            return made

        logging.setLogRecordFactory(record)
        self._undo.append(lambda: logging.setLogRecordFactory(previous))

    def close(self) -> None:
        """Export what is buffered, then take the instrumentation out."""
        self.provider.force_flush()
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        if self.owns_provider:
            self.provider.shutdown()
