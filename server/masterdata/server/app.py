"""The composition root: build the server, start it, drain it, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from masterdata.server.api import commodities, events, locations, organizations, trade_terms
from masterdata.server.api.call_boundary import CallBoundary
from masterdata.server.api.reflection import enable_reflection
from masterdata.server.api.registration import ServiceRegistry
from masterdata.server.config import Settings
from masterdata.server.events.hub import FeedHub
from masterdata.server.events.store import SqlEventStore
from masterdata.server.observability.gc_pauses import settle_heap
from masterdata.server.observability.metrics import Metrics
from masterdata.server.observability.tracing import Tracing, provider_from_environment
from masterdata.server.resources.activity import UnaryCalls
from masterdata.server.resources.idempotency_purge import purge_periodically
from masterdata.server.resources.runtime import Runtime
from masterdata.server.security.gatekeeper import Gatekeeper
from masterdata.server.security.setup import Security, build_security
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database, embedded
from masterdata.v1 import commodity_pb2, events_pb2, location_pb2, organization_pb2, trade_terms_pb2

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("masterdata.server")

#: Each API module registers its service(s) with `add_to_server(server, runtime)`.
API_MODULES = (locations, organizations, commodities, trade_terms, events)
#: The contract's files: the scope table and the health names come from them.
CONTRACT = tuple(
    pb2.DESCRIPTOR
    for pb2 in (location_pb2, organization_pb2, commodity_pb2, trade_terms_pb2, events_pb2)
)
SERVICE_NAMES = tuple(
    service.full_name for file in CONTRACT for service in file.services_by_name.values()
)


class ListenError(RuntimeError):
    """The listen address cannot be bound (in use, or not an address of this machine)."""


@dataclass
class App:
    """A built server and what it owns; `port` is the bound port (useful with :0)."""

    server: aio.Server
    port: int
    runtime: Runtime
    health: health.aio.HealthServicer
    gate: Gatekeeper
    metrics: Metrics
    #: Port of the /metrics endpoint once started; 0 without one.
    metrics_port: int = 0
    #: OpenTelemetry tracing, when configured (observability/tracing.py).
    tracing: Tracing | None = None
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self) -> None:
        # Every name answers from the first call on: NOT_SERVING until the first probe.
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        settings = self.runtime.settings
        if settings.metrics_port:
            try:
                self.metrics_port = self.metrics.serve(
                    settings.metrics_port, settings.metrics_address
                )
            except OSError as error:
                raise ListenError(
                    f"cannot serve metrics on {settings.metrics_address}:{settings.metrics_port}:"
                    f" {error.strerror}"
                ) from error
            log.info("metrics on http://%s:%d/metrics", settings.metrics_address, self.metrics_port)
        await self.runtime.feed.start()
        await self.server.start()
        self._tasks.append(asyncio.create_task(self._watch_database(), name="health"))
        self._tasks.append(asyncio.create_task(self.metrics.loop_lag.run(), name="loop-lag"))
        self._tasks.append(
            asyncio.create_task(
                purge_periodically(
                    self.runtime.db,
                    # The contract keeps replies at least 24 h, whatever the setting says.
                    timedelta(hours=max(24.0, settings.idempotency_retention_h)),
                    settings.idempotency_purge_interval_s,
                ),
                name="idempotency-purge",
            )
        )
        settle_heap()
        self.metrics.gc_pauses.watch()
        log.info("masterdata listening on port %d", self.port)

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first, then stop accepting, end streams, let unary calls finish.

        `grace` (default shutdown_grace_s) bounds the whole drain: calls still
        running when it passes are cancelled, which rolls their transactions back.
        """
        grace = self.runtime.settings.shutdown_grace_s if grace is None else grace
        await self.health.enter_graceful_shutdown()
        for task in self._tasks:
            task.cancel()
        # Stop accepting at once, while the hooks end the streams that would
        # otherwise keep the drain waiting for the whole grace period.
        stopping = asyncio.create_task(self.server.stop(grace), name="grpc-stop")
        try:
            await self.runtime.feed.stop()  # ends the streams
        finally:
            await stopping
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self.metrics.close)
        await self.runtime.db.dispose()
        if self.tracing is not None:
            self.tracing.close()

    async def _watch_database(self) -> None:
        """Drive health from a periodic probe: NOT_SERVING while the database is down."""
        interval = self.runtime.settings.health_interval_s
        last: int | None = None
        while True:
            status = await _probe(self.runtime.db, max(interval, 1.0))
            if status != last:
                for name in ("", *SERVICE_NAMES):
                    await self.health.set(name, status)
                if last is not None:
                    log.warning(
                        "health is now %s",
                        health_pb2.HealthCheckResponse.ServingStatus.Name(status),
                    )
                last = status
            await asyncio.sleep(interval)


async def _probe(db: Database, limit_s: float) -> int:
    serving = health_pb2.HealthCheckResponse.SERVING
    try:
        async with asyncio.timeout(limit_s):
            await db.backend.ping()
        return serving
    except Exception:  # any failure to reach the database means not serving
        return health_pb2.HealthCheckResponse.NOT_SERVING


def build(
    settings: Settings,
    db: Database | None = None,
    *,
    security: Security | None = None,
    tracer_provider: TracerProvider | None = None,
) -> App:
    """Wire security, services, health, reflection, metrics and tracing; bind but do not start.

    Tracing goes to `tracer_provider` when given, else where the OTEL_* variables say;
    with neither it is off.

    Raises SecurityConfigError for unusable security settings (before touching `db`)
    and ListenError when the address cannot be bound.
    """
    security = security or build_security(settings, CONTRACT)
    db = db or Database.connect(settings)
    metrics = Metrics()
    runtime = build_runtime(settings, db, metrics)
    tracing = _tracing(settings, db, tracer_provider)
    server = aio.server(
        interceptors=tracing.interceptors if tracing else None,
        options=[*settings.grpc_server_options(), *_message_limits(settings)],
    )
    boundary = CallBoundary(
        security.gate,
        metrics,
        max_unary_in_flight=settings.max_unary_in_flight,
        calls=runtime.unary_calls,
    )
    registry = ServiceRegistry(server, boundary)
    for module in API_MODULES:
        module.add_to_server(registry, runtime)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection(server, SERVICE_NAMES)
    _sample_runtime(metrics, runtime)
    try:
        if security.credentials is None:
            port = server.add_insecure_port(settings.listen)
        else:
            port = server.add_secure_port(settings.listen, security.credentials)
    except RuntimeError as error:
        raise ListenError(f"cannot listen on {settings.listen}: {error}") from error
    if port == 0:
        raise ListenError(f"cannot listen on {settings.listen}")
    return App(server, port, runtime, health_servicer, security.gate, metrics, tracing=tracing)


def _tracing(settings: Settings, db: Database, provider: TracerProvider | None) -> Tracing | None:
    """Tracing into `provider`, else as the OTEL_* variables say; None when off."""
    owns = provider is None
    provider = provider or provider_from_environment()
    if provider is None:
        return None
    return Tracing.install(provider, db, embedded=embedded(settings), owns_provider=owns)


def build_runtime(settings: Settings, db: Database, metrics: Metrics | None = None) -> Runtime:
    """What every service object shares; also for commands that write without a server
    (`masterdata seed`), whose feed is never started."""
    calls = UnaryCalls()
    return Runtime(db, settings, event_feed(db, settings, calls), metrics, calls)


def event_feed(db: Database, settings: Settings, calls: UnaryCalls) -> FeedHub:
    """The process's one feed hub: its tail reader on the backend's feed engine (a
    connection of its own on PostgreSQL) and the backend's listener, if any."""
    pages = SqlEventStore(db.reader)
    engine = db.backend.feed_engine()
    tail = pages if engine is db.reader else SqlEventStore(engine, owns_engine=True)
    hub = FeedHub(
        tail,
        pages=pages,
        poll_interval_s=settings.feed_poll_interval_s,
        batch_size=settings.feed_batch_size,
        retained_events=settings.feed_retained_events,
        calls=calls,
    )
    hub.listener = db.backend.listener(hub.wake, settings.connect_timeout_s)
    return hub


def _message_limits(settings: Settings) -> list[tuple[str, int]]:
    """Larger messages fail with RESOURCE_EXHAUSTED before any handler runs."""
    return [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        ("grpc.max_send_message_length", settings.max_message_bytes),
    ]


def _sample_runtime(metrics: Metrics, runtime: Runtime) -> None:
    """Gauges read at scrape time: connection pools and event-feed subscribers."""
    pools = runtime.db.backend.pools()

    def total(read: Callable[[Any], int]) -> float:
        return float(sum(read(pool) for pool in pools if hasattr(pool, "checkedout")))

    metrics.sample(
        "masterdata_db_pool_in_use",
        "Database connections checked out of the pools",
        lambda: (
            total(lambda pool: pool.checkedout()) + runtime.db.backend.driver_connections_in_use()
        ),
    )
    metrics.sample(
        "masterdata_db_pool_overflow",
        "Database connections open beyond pool_size",
        lambda: total(lambda pool: max(0, pool.overflow())),
    )
    hub = runtime.feed
    metrics.sample(
        "masterdata_event_subscribers", "Open SubscribeEvents streams", lambda: hub.subscribers
    )


async def prepare_schema(settings: Settings, db: Database) -> None:
    """Migrate SQLite automatically; refuse an unmigrated PostgreSQL database."""
    if embedded(settings) and settings.auto_migrate_sqlite:
        await migrate.upgrade(db.writer)
    else:
        await migrate.require_current(db.writer)


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    security = build_security(settings, CONTRACT)  # refuse bad settings before any I/O
    db = await Database.open(settings)  # set-up mistakes: DatabaseUnusable
    try:
        await prepare_schema(settings, db)
        app = build(settings, db, security=security)
    except BaseException:
        await db.dispose()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await app.start()
        await stop.wait()
        log.info("shutting down (grace %.1fs)", settings.shutdown_grace_s)
    finally:
        await app.stop()
