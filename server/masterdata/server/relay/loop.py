"""The relay's loop: lead (or stand by), connect to NATS, resume where the stream is, publish.

Every failure goes back to a point that needs no memory of its own: a lost lease
back to standing by, an unreachable NATS back to connecting (with backoff), a
stream that moved back to reading its position. The stream's position is read
again each time, so nothing the relay held in memory can skip or repeat an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NATS
from sqlalchemy.exc import SQLAlchemyError

from masterdata.server.relay.envelope import envelope
from masterdata.server.relay.leadership import Leadership
from masterdata.server.relay.metrics import RelayMetrics
from masterdata.server.relay.outbox import Lag, Outbox
from masterdata.server.relay.publisher import BrokerUnavailable, Desync, Publisher
from masterdata.server.relay.settings import RelaySettings
from masterdata.server.relay.stream import ensure_stream, read_position
from masterdata.server.storage.engine import Database

log = logging.getLogger("masterdata.relay")

#: What "NATS or the database is unreachable or failing" looks like from here; each is
#: retried with backoff (--once stops on it instead).
RETRIED_ERRORS = (BrokerUnavailable, nats.errors.Error, OSError, TimeoutError, SQLAlchemyError)
#: Seconds between measurements of the lag.
LAG_INTERVAL_S = 1.0
BACKOFF_MIN_S = 0.1


class Relay:
    """One relay process: the outbox, the lease, the NATS session and the metrics."""

    def __init__(
        self,
        db: Database,
        settings: RelaySettings,
        *,
        connect_timeout_s: float,
        metrics: RelayMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or RelayMetrics()
        self.outbox = Outbox(
            db,
            page_size=settings.page_size,
            poll_interval_s=settings.poll_interval_s,
            connect_timeout_s=connect_timeout_s,
        )
        lease = db.backend.lease(f"relay:{settings.stream}", connect_timeout_s)
        self.leadership = Leadership(
            lease, settings.takeover_interval_s, lambda leading: self.metrics.leader.set(leading)
        )
        self._connect_timeout_s = connect_timeout_s
        self._publisher: Publisher | None = None
        #: The last event the stream is known to hold; None until it was read back.
        self._acked: int | None = None
        self._lag: Lag | None = None

    async def run(self, *, once: bool = False) -> bool:
        """Relay until cancelled; with `once`, what is committed now, then return.

        Returns False when `once` found another relay leading (it publishes instead).
        """
        self.outbox.start()
        lag = asyncio.create_task(self._report_lag(), name="relay-lag")
        try:
            if once:
                if not await self.leadership.try_lead():
                    log.info("another relay leads; it publishes what is pending")
                    return False
                await self._session(once=True)
                return True
            while True:
                await self.leadership.lead()
                await _first_of(self._publish_with_retries(), self.leadership.lost())
        finally:
            lag.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lag
            await self.leadership.step_down()
            await self.outbox.close()

    async def _publish_with_retries(self) -> None:
        backoff = BACKOFF_MIN_S
        while True:
            connected = asyncio.Event()
            started = time.monotonic()
            try:
                await self._session(once=False, connected=connected)
            except RETRIED_ERRORS as error:
                # A session that ran a while was a recovery: the next failure is a new one.
                if connected.is_set() and time.monotonic() - started > self.settings.max_backoff_s:
                    backoff = BACKOFF_MIN_S
                log.warning(
                    "relay: %s; retrying in %.1f s (%s)",
                    _describe(error),
                    backoff,
                    self._lag_text(),
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.max_backoff_s)

    async def _session(self, *, once: bool, connected: asyncio.Event | None = None) -> None:
        """One NATS connection: resume from the stream's position and publish."""
        nc = await nats.connect(
            self.settings.nats_url.split(","),
            allow_reconnect=False,
            connect_timeout=self._connect_timeout_s,
            disconnected_cb=self._disconnected,
            error_cb=self._nats_error,
        )
        try:
            js = nc.jetstream()
            await ensure_stream(js, self.settings)
            self.metrics.nats_connected.set(1)
            if connected is not None:
                connected.set()
            target = await self.outbox.head() if once else None
            while True:
                position = await read_position(js, self.settings.stream)
                self._acked = position.event_sequence
                self.metrics.stream_sequence.set(position.event_sequence)
                publisher = self._publisher = Publisher(
                    nc,
                    position,
                    in_flight=self.settings.in_flight,
                    ack_timeout_s=self.settings.ack_timeout_s,
                    on_acked=self._acked_one,
                )
                try:
                    await self._pump(publisher, target)
                    return
                except Desync as error:
                    log.info("stream moved (%s); reading its position again", error)
                finally:
                    await publisher.close()
                    self._publisher = None
        finally:
            self.metrics.nats_connected.set(0)
            await _close(nc)

    async def _pump(self, publisher: Publisher, target: int | None) -> None:
        """Read pages and publish them; the next page is read while this one is sent."""
        settings = self.settings
        reading: asyncio.Task[Any] | None = None
        try:
            while True:
                events = await (reading or self.outbox.after(publisher.sent))
                reading = None
                if len(events) == settings.page_size:
                    reading = asyncio.create_task(self.outbox.after(events[-1].sequence))
                for event in events:
                    await publisher.send(
                        envelope(event, settings.subject_prefix, settings.encoding)
                    )
                if (target is not None and publisher.sent >= target) or not events:
                    await publisher.drain()
                    if target is not None:
                        return
                    await self.outbox.wait()
        finally:
            if reading is not None:
                reading.cancel()
                with contextlib.suppress(BaseException):
                    await reading

    def _acked_one(self, sequence: int, duplicate: bool) -> None:
        self._acked = sequence
        (self.metrics.duplicates if duplicate else self.metrics.published).inc()
        self.metrics.stream_sequence.set(sequence)

    async def _disconnected(self) -> None:
        if self._publisher is not None:
            self._publisher.fail_pending(BrokerUnavailable("connection lost"))

    async def _nats_error(self, error: Exception) -> None:
        log.debug("NATS client: %r", error)

    async def _report_lag(self) -> None:
        """Measure the lag every second while leading (the standby's is the leader's)."""
        while True:
            await asyncio.sleep(LAG_INTERVAL_S)
            if not self.leadership.leading or self._acked is None:
                continue
            try:
                lag = await self.outbox.lag(self._acked)
            except Exception as error:  # the database is down: the lag is unknown, not zero
                log.warning("relay: cannot measure the lag (%s)", error)
                continue
            self._lag = lag
            self.metrics.lag_events.set(lag.events)
            self.metrics.lag_seconds.set(lag.seconds)

    def _lag_text(self) -> str:
        if self._lag is None:
            return "lag not measured yet"
        return f"lag {self._lag.events} events, {self._lag.seconds:.1f} s"


async def _first_of(*work: Coroutine[Any, Any, None]) -> None:
    """Run `work` until the first of them ends; cancel the rest; raise what it raised."""
    tasks = [asyncio.create_task(w) for w in work]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        task.result()


async def _close(nc: NATS) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(nc.close(), 2.0)


def _describe(error: BaseException) -> str:
    return str(error) or type(error).__name__
