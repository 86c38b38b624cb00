"""Run one server process to the end and say how it ended, as an exit code."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable

import uvloop

from masterdata.server.app import ListenError, serve
from masterdata.server.config import Settings
from masterdata.server.observability.tracing import TracingConfigError
from masterdata.server.security.errors import SecurityConfigError
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database
from masterdata.server.storage.migrate import SchemaNotCurrent
from masterdata.server.storage.unusable import DatabaseUnusable
from masterdata.server.workers import WorkersError


class EventLoopError(ValueError):
    """The configured event loop is not one the server knows."""


#: Exit code of a set-up mistake, the same as a usage error of the command line.
SETUP_FAILED = 2
#: Mistakes the operator fixes in the settings or the database before anything can run;
#: each says what to fix in one line, so none of them needs a traceback.
SETUP_ERRORS = (
    DatabaseUnusable,
    SchemaNotCurrent,
    SecurityConfigError,
    ListenError,
    WorkersError,
    EventLoopError,
    TracingConfigError,
)


def setup_checked(run: Callable[[], int]) -> int:
    """`run()`, or SETUP_FAILED after one line on stderr when it stops at a set-up mistake."""
    try:
        return run()
    except SETUP_ERRORS as error:
        print(f"masterdata: {error}", file=sys.stderr, flush=True)
        return SETUP_FAILED


def run_server(settings: Settings) -> int:
    """0 after a clean shutdown; SETUP_FAILED (2) for a set-up mistake."""
    return setup_checked(lambda: _serve_to_the_end(settings))


def _serve_to_the_end(settings: Settings) -> int:
    with (
        contextlib.suppress(KeyboardInterrupt),  # before the signal handlers are set
        asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner,
    ):
        runner.run(serve(settings))
    return 0


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop `name` names: uvloop's, or None for asyncio's own."""
    if name == "asyncio":
        return None
    if name == "uvloop":
        return uvloop.new_event_loop
    raise EventLoopError(f"MASTERDATA_EVENT_LOOP must be uvloop or asyncio, not {name!r}")


async def check_database(settings: Settings) -> None:
    """What `serve` requires of the database, without serving: it opens and is migrated."""
    db = await Database.open(settings)
    try:
        await migrate.require_current(db.writer)
    finally:
        await db.dispose()
