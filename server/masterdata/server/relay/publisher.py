"""Pipelined publishes, each fenced on the stream sequence before it.

Many publishes are in flight at once (their acknowledgements are awaited later, in
order), so throughput is bounded by the broker and not by a round trip per event.
Each carries `Nats-Expected-Last-Sequence`: JetStream stores it only if the stream's
last message is the one the relay published just before. So the stream can only
ever hold a gap-free prefix of the events in order: a publish lost in a broken
connection fails every later one in flight instead of leaving a hole, and a second
relay that believes it leads (a lease lost without knowing it) is refused instead
of interleaving. `Nats-Msg-Id` covers the remaining case, a publish stored whose
acknowledgement was lost: JetStream checks it first and answers "duplicate".
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import APIError

from masterdata.server.relay.envelope import Envelope
from masterdata.server.relay.stream import Position

EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
#: JetStream's error code for a publish whose Nats-Expected-Last-Sequence did not hold.
WRONG_LAST_SEQUENCE = 10071


class Desync(RuntimeError):
    """The stream is not where the relay thought: read its position back and go on from there."""


class BrokerUnavailable(RuntimeError):
    """NATS did not acknowledge in time, or the connection is gone."""


@dataclass(slots=True)
class _InFlight:
    future: asyncio.Future[Any]
    event_sequence: int
    stream_sequence: int


class Publisher:
    """Publishes envelopes after a position; `acked` is the last event the stream confirmed."""

    def __init__(
        self,
        js: JetStreamContext,
        position: Position,
        *,
        in_flight: int,
        ack_timeout_s: float,
        on_acked: Callable[[int, bool], None],
    ) -> None:
        self._js = js
        self._window = in_flight
        self._timeout = ack_timeout_s
        self._on_acked = on_acked
        self._pending: deque[_InFlight] = deque()
        #: Stream sequence of the last message sent (the next one is fenced on it).
        self._sent = position.stream_sequence
        #: Event sequence of the last message sent, and of the last one acknowledged.
        self.sent = position.event_sequence
        self.acked = position.event_sequence

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    async def send(self, envelope: Envelope) -> None:
        """Publish one envelope; waits for the oldest acknowledgement while the window is full."""
        headers = envelope.headers | {EXPECTED_LAST_SEQUENCE: str(self._sent)}
        future = await self._js.publish_async(envelope.subject, envelope.body, headers=headers)
        self._sent += 1
        self.sent = envelope.sequence
        self._pending.append(_InFlight(future, envelope.sequence, self._sent))
        self._settle_done()
        while len(self._pending) >= self._window:
            await self._settle_oldest()

    async def drain(self) -> None:
        """Wait for every acknowledgement in flight."""
        while self._pending:
            await self._settle_oldest()

    def fail_pending(self, error: BaseException) -> None:
        """End every publish in flight with `error` (the connection is gone)."""
        for item in self._pending:
            if not item.future.done():
                item.future.set_exception(error)

    def abandon(self) -> None:
        """Forget what is in flight (after a failure: the stream's position is the truth)."""
        for item in self._pending:
            item.future.cancel()
        self._pending.clear()

    def _settle_done(self) -> None:
        while self._pending and self._pending[0].future.done():
            self._settled(self._pending.popleft())

    async def _settle_oldest(self) -> None:
        oldest = self._pending[0]
        try:
            await asyncio.wait_for(asyncio.shield(oldest.future), self._timeout)
        except TimeoutError as error:
            raise BrokerUnavailable(f"no acknowledgement within {self._timeout} s") from error
        except Exception:
            pass  # read again, with the others, below
        self._settle_done()

    def _settled(self, item: _InFlight) -> None:
        try:
            ack = item.future.result()
        except APIError as error:
            if error.err_code == WRONG_LAST_SEQUENCE:
                raise Desync(f"stream moved: {error.description}") from error
            raise BrokerUnavailable(f"publish refused: {error}") from error
        except (asyncio.CancelledError, Exception) as error:
            raise BrokerUnavailable(f"publish failed: {error!r}") from error
        if ack.seq != item.stream_sequence:
            raise Desync(
                f"event {item.event_sequence} went to {ack.seq}, not {item.stream_sequence}"
            )
        self.acked = item.event_sequence
        self._on_acked(item.event_sequence, bool(ack.duplicate))
