"""The shared dependencies of every service object, built once by the app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from masterdata.server.config import Settings
from masterdata.server.resources.activity import UnaryCalls
from masterdata.server.resources.caller import Caller
from masterdata.server.storage.engine import Database
from masterdata.server.storage.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from masterdata.server.events.hub import FeedHub
    from masterdata.server.observability.metrics import Metrics


@dataclass
class Runtime:
    """Database, settings and the lifecycle hooks that API modules attach to."""

    db: Database
    settings: Settings
    on_events_committed: list[Callable[[], None]] = field(default_factory=list)
    #: Started with the server (e.g. the event-feed listener).
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: Run first on shutdown, before in-flight calls are drained (e.g. end streams).
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    #: The event feed of this process, attached by api/events.py.
    feed: FeedHub | None = None
    #: This process's Prometheus metrics (None in code that runs without a server).
    metrics: Metrics | None = None
    #: Unary calls, counted by the call boundary: background work (a bulk import)
    #: gives way to them.
    unary_calls: UnaryCalls = field(default_factory=UnaryCalls)

    def unit_of_work(self, caller: Caller) -> UnitOfWork:
        """A write transaction for `caller`, its database work bounded by their deadline.

        Its events carry the client's request_id, empty without one (events.proto);
        the call's correlation id goes to logs and trailing metadata only.
        """
        return UnitOfWork(
            self.db,
            actor=caller.identity,
            request_id=caller.request_id,
            after_commit=self._events_committed,
            timeout_s=caller.time_left(),
        )

    def _events_committed(self) -> None:
        for callback in self.on_events_committed:
            callback()
