"""`masterdata relay` as a process: open the database, serve /metrics, relay until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from masterdata.server.config import Settings
from masterdata.server.relay.loop import RETRIED_ERRORS, Relay
from masterdata.server.relay.metrics import RelayMetrics
from masterdata.server.relay.settings import RelaySettings
from masterdata.server.relay.stream import StreamMismatch
from masterdata.server.run import loop_factory, setup_checked
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database

log = logging.getLogger("masterdata.relay")

#: Exit code when the relay stops on a failure it must not paper over.
FAILED = 1


def run_relay(settings: Settings, relay: RelaySettings, *, once: bool) -> int:
    """0 after SIGTERM or a finished --once; 1 on a failure; 2 for a set-up mistake."""
    return setup_checked(lambda: _run_to_the_end(settings, relay, once=once))


def _run_to_the_end(settings: Settings, relay: RelaySettings, *, once: bool) -> int:
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=loop_factory(settings.event_loop)) as runner,
    ):
        try:
            runner.run(relay_until_stopped(settings, relay, once=once))
        except (StreamMismatch, *RETRIED_ERRORS) as error:
            print(f"masterdata: relay stopped: {error or type(error).__name__}", file=sys.stderr)
            return FAILED
    return 0


async def relay_until_stopped(settings: Settings, relay: RelaySettings, *, once: bool) -> None:
    """Relay until SIGTERM or SIGINT (or, with `once`, until what is pending is published)."""
    db = await Database.open(settings)
    metrics = RelayMetrics()
    try:
        await migrate.require_current(db.writer)
        if relay.metrics_port:
            port = metrics.serve(relay.metrics_port, relay.metrics_address)
            log.info("relay metrics on http://%s:%d/metrics", relay.metrics_address, port)
        work = asyncio.create_task(
            Relay(db, relay, connect_timeout_s=settings.connect_timeout_s, metrics=metrics).run(
                once=once
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, work.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await work
    finally:
        await asyncio.to_thread(metrics.close)
        await db.dispose()
