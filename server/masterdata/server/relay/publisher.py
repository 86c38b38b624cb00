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

Acknowledgements arrive on one inbox subscription of our own rather than through
nats-py's `publish_async`: that one raises a refused publish's error inside its
reply handler instead of setting it on the future, so a fence refusal looked like
a lost acknowledgement (a 5 s wait, then a reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from masterdata.server.relay.envelope import Envelope
from masterdata.server.relay.stream import Position

EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
#: JetStream's error code for a publish whose Nats-Expected-Last-Sequence did not hold.
WRONG_LAST_SEQUENCE = 10071
#: The status of a reply that says nothing listens on the subject (no such stream).
NO_RESPONDERS = "503"


class Desync(RuntimeError):
    """The stream is not where the relay thought: read its position back and go on from there."""


class BrokerUnavailable(RuntimeError):
    """NATS did not acknowledge in time, refused the publish, or the connection is gone."""


@dataclass(frozen=True, slots=True)
class Ack:
    """JetStream's answer to one publish."""

    stream_sequence: int
    duplicate: bool


@dataclass(slots=True)
class _InFlight:
    future: asyncio.Future[Ack]
    event_sequence: int
    stream_sequence: int


class Publisher:
    """Publishes envelopes after a position; `acked` is the last event the stream confirmed."""

    def __init__(
        self,
        nc: NATS,
        position: Position,
        *,
        in_flight: int,
        ack_timeout_s: float,
        on_acked: Callable[[int, bool], None],
    ) -> None:
        self._nc = nc
        self._window = in_flight
        self._timeout = ack_timeout_s
        self._on_acked = on_acked
        self._pending: deque[_InFlight] = deque()
        self._waiting: dict[str, asyncio.Future[Ack]] = {}
        self._inbox = nc.new_inbox() + "."
        self._subscription: Subscription | None = None
        #: Stream sequence of the last message sent (the next one is fenced on it).
        self._sent = position.stream_sequence
        #: Event sequence of the last message sent, and of the last one acknowledged.
        self.sent = position.event_sequence
        self.acked = position.event_sequence

    async def send(self, envelope: Envelope) -> None:
        """Publish one envelope; waits for the oldest acknowledgement while the window is full."""
        if self._subscription is None:
            self._subscription = await self._nc.subscribe(self._inbox + "*", cb=self._answered)
        token = str(self._sent + 1)
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()
        self._waiting[token] = future
        headers = envelope.headers | {EXPECTED_LAST_SEQUENCE: str(self._sent)}
        await self._nc.publish(
            envelope.subject, envelope.body, reply=self._inbox + token, headers=headers
        )
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

    async def close(self) -> None:
        """Forget what is in flight (after a failure the stream's position is the truth)."""
        for item in self._pending:
            item.future.cancel()
        self._pending.clear()
        self._waiting.clear()
        if self._subscription is not None and not self._nc.is_closed:
            # the connection may have gone down meanwhile: then there is nothing to undo
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
        self._subscription = None

    async def _answered(self, msg: Msg) -> None:
        future = self._waiting.pop(msg.subject[len(self._inbox) :], None)
        if future is None or future.done():
            return
        if msg.headers and msg.headers.get("Status") == NO_RESPONDERS:
            future.set_exception(BrokerUnavailable(f"no stream takes {msg.subject!r}"))
            return
        try:
            reply = json.loads(msg.data)
        except ValueError:
            future.set_exception(BrokerUnavailable(f"unreadable acknowledgement {msg.data!r}"))
            return
        if (error := reply.get("error")) is not None:
            if error.get("err_code") == WRONG_LAST_SEQUENCE:
                future.set_exception(Desync(f"stream moved: {error.get('description')}"))
            else:
                future.set_exception(BrokerUnavailable(f"publish refused: {error}"))
            return
        future.set_result(Ack(int(reply["seq"]), bool(reply.get("duplicate"))))

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
        except (Desync, BrokerUnavailable):
            raise
        except (asyncio.CancelledError, Exception) as error:
            raise BrokerUnavailable(f"publish failed: {error!r}") from error
        if ack.stream_sequence != item.stream_sequence:
            expected = item.stream_sequence
            raise Desync(f"event {item.event_sequence} is at {ack.stream_sequence}, not {expected}")
        self.acked = item.event_sequence
        self._on_acked(item.event_sequence, ack.duplicate)
