"""The shared dependencies of every service object, built once by the app (app.build)."""

from __future__ import annotations

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


@dataclass(frozen=True)
class Runtime:
    """Database, settings, the event feed and the process's counters; immutable."""

    db: Database
    settings: Settings
    #: The event feed of this process: woken by every commit that recorded events.
    feed: FeedHub
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
            after_commit=self.feed.hint,
            timeout_s=caller.time_left(),
        )
