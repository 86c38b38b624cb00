"""The JetStream stream the relay writes: made if missing, its position read back from it.

The position is what the stream holds, not what a local file says: the stream's
last message names the last event it has (the `Masterdata-Sequence` header), so a
relay that crashed between a publish and any bookkeeping of its own resumes right
after what was stored, neither skipping nor repeating an event.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from masterdata.server.relay.envelope import SEQUENCE
from masterdata.server.relay.settings import RelaySettings


class StreamMismatch(RuntimeError):
    """The stream's last message does not say which event it is: the relay cannot resume."""


@dataclass(frozen=True)
class Position:
    """The stream's last message: its stream sequence and the event sequence it carries."""

    stream_sequence: int
    event_sequence: int


EMPTY = Position(0, 0)


async def ensure_stream(js: JetStreamContext, settings: RelaySettings) -> None:
    """Create the stream if it is missing (file storage, the relay's subjects, dedupe window)."""
    try:
        await js.stream_info(settings.stream)
    except NotFoundError:
        config = StreamConfig(
            name=settings.stream,
            subjects=[f"{settings.subject_prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=settings.duplicate_window_s,
        )
        await js.add_stream(config)


async def read_position(js: JetStreamContext, stream: str) -> Position:
    """Where the stream stands, read back from JetStream."""
    info = await js.stream_info(stream)
    last = info.state.last_seq
    if last == 0:
        return EMPTY
    try:
        message = await js.get_msg(stream, seq=last)
    except NotFoundError as error:
        raise StreamMismatch(
            f"stream {stream}'s last message ({last}) is gone (purged?): the relay cannot "
            "tell which event comes next; delete the stream to republish every event"
        ) from error
    sequence = (message.headers or {}).get(SEQUENCE)
    if sequence is None or not sequence.isdigit():
        raise StreamMismatch(
            f"stream {stream}'s last message ({last}, subject {message.subject}) was not "
            f"published by the relay (no {SEQUENCE} header): give the relay a stream of its own"
        )
    return Position(last, int(sequence))
