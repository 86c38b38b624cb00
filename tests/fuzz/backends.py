"""One live server per backend, and the cheap fingerprint of its database."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import Integer, func, select
from support import make_settings

from fuzz import seed
from masterdata.server.app import App, build
from masterdata.server.storage import migrate
from masterdata.server.storage.base import Base
from masterdata.server.storage.engine import Database


@functools.cache
def _fingerprint_query() -> Any:
    """One round trip: per table its row count, the sums of its integer columns
    (revision, next_number, sequence, ...) and its latest update_time."""
    parts: list[Any] = []
    for table in Base.metadata.sorted_tables:
        parts.append(select(func.count()).select_from(table).scalar_subquery())
        for column in table.columns:
            if isinstance(column.type, Integer) or column.name == "update_time":
                aggregate = func.max if column.name == "update_time" else func.sum
                parts.append(select(aggregate(column)).scalar_subquery())
    return select(*parts)


@dataclass
class Backend:
    """One running server, its channel, and what its placeholders mean."""

    name: str
    app: App
    channel: aio.Channel
    place: seed.Placeholders = field(default_factory=lambda: seed.Placeholders({}, {}))
    #: The fingerprint after the last refused call; None once a call may have written.
    known: tuple[Any, ...] | None = None

    async def fingerprint(self) -> tuple[Any, ...]:
        async with self.app.runtime.db.reader.connect() as conn:
            return tuple((await conn.execute(_fingerprint_query())).one())

    async def before_call(self) -> tuple[Any, ...]:
        """Only this net writes: after a refused call the database is as it was."""
        if self.known is None:
            self.known = await self.fingerprint()
        return self.known

    async def serving(self) -> bool:
        stub = health_pb2_grpc.HealthStub(self.channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    @classmethod
    async def start(cls, name: str, url: str) -> Backend:
        """A migrated database and a running server on it, seeded."""
        # Heartbeats often, so a read-only feed reaches its few messages quickly.
        settings = make_settings(url, health_interval_s=0.5, heartbeat_interval_s=0.2)
        db = Database.connect(settings)
        await migrate.upgrade(db.writer)
        app = build(settings, db)
        await app.start()
        backend = cls(name, app, aio.insecure_channel(f"127.0.0.1:{app.port}"))
        backend.place = await seed.seed(backend.channel)
        return backend

    async def stop(self) -> None:
        await self.channel.close()
        await self.app.stop(0)
