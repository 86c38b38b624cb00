"""The composition root: build the server, start it, drain it, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from sqlalchemy import text

from masterdata.server.api import commodities, events, locations, organizations, trade_terms
from masterdata.server.api.interceptors import ErrorBoundaryInterceptor
from masterdata.server.api.reflection import enable_reflection
from masterdata.server.config import Settings
from masterdata.server.db import migrate
from masterdata.server.db.engine import Database
from masterdata.server.resources.runtime import Runtime
from masterdata.v1 import commodity_pb2, events_pb2, location_pb2, organization_pb2, trade_terms_pb2

log = logging.getLogger("masterdata.server")

#: Each API module registers its service(s) with `add_to_server(server, runtime)`.
API_MODULES = (locations, organizations, commodities, trade_terms, events)
SERVICE_NAMES = tuple(
    service.full_name
    for pb2 in (location_pb2, organization_pb2, commodity_pb2, trade_terms_pb2, events_pb2)
    for service in pb2.DESCRIPTOR.services_by_name.values()
)


@dataclass
class App:
    """A built server and what it owns; `port` is the bound port (useful with :0)."""

    server: aio.Server
    port: int
    runtime: Runtime
    health: health.aio.HealthServicer
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start(self) -> None:
        # Every name answers from the first call on: NOT_SERVING until the first probe.
        for name in ("", *SERVICE_NAMES):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        for hook in self.runtime.on_start:
            await hook()
        await self.server.start()
        self._tasks.append(asyncio.create_task(self._watch_database(), name="health"))
        log.info("masterdata listening on port %d", self.port)

    async def stop(self, grace: float | None = None) -> None:
        """NOT_SERVING first, then stop accepting and let in-flight calls finish."""
        await self.health.enter_graceful_shutdown()
        for task in self._tasks:
            task.cancel()
        for hook in self.runtime.on_stop:
            await hook()
        grace = self.runtime.settings.shutdown_grace_s if grace is None else grace
        await self.server.stop(grace)
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.runtime.db.dispose()

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
        async with asyncio.timeout(limit_s), db.reader.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return serving
    except Exception:  # any failure to reach the database means not serving
        return health_pb2.HealthCheckResponse.NOT_SERVING


def build(settings: Settings, db: Database | None = None) -> App:
    """Wire services, servicers, health and reflection; bind but do not start."""
    db = db or Database.connect(settings)
    runtime = Runtime(db, settings)
    server = aio.server(
        interceptors=[ErrorBoundaryInterceptor()], options=settings.grpc_server_options()
    )
    for module in API_MODULES:
        module.add_to_server(server, runtime)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    enable_reflection(server, SERVICE_NAMES)
    port = server.add_insecure_port(settings.listen)
    if port == 0:
        raise RuntimeError(f"cannot listen on {settings.listen}")
    return App(server, port, runtime, health_servicer)


async def prepare_schema(settings: Settings, db: Database) -> None:
    """Migrate SQLite automatically; refuse an unmigrated PostgreSQL database."""
    if settings.is_sqlite and settings.auto_migrate_sqlite:
        await migrate.upgrade(db.writer)
    else:
        await migrate.require_current(db.writer)


async def serve(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT, then shut down gracefully."""
    db = Database.connect(settings)
    try:
        await prepare_schema(settings, db)
    except BaseException:
        await db.dispose()
        raise
    app = build(settings, db)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await app.start()
    try:
        await stop.wait()
        log.info("shutting down (grace %.1fs)", settings.shutdown_grace_s)
    finally:
        await app.stop()
