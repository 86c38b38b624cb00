"""The event of a changed row, as every write path records it."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message

from masterdata.server.resources.codec import codec_for
from masterdata.server.resources.spec import ResourceSpec
from masterdata.server.storage.unit_of_work import PendingEvent


def pending_event(
    spec: ResourceSpec, row: Any, verb: str, changed: Iterable[str] = ()
) -> tuple[PendingEvent, Message]:
    """The event `<spec.name>.<verb>` of `row`, and the row's unmasked message."""
    message = codec_for(spec).to_message(row, reveal=True)
    return event_of(spec, message, row.id, row.revision, verb, changed), message


def event_of(
    spec: ResourceSpec,
    message: Message,
    aggregate_id: uuid.UUID,
    revision: int,
    verb: str,
    changed: Iterable[str] = (),
) -> PendingEvent:
    """The event `<spec.name>.<verb>` of the row at `revision` whose unmasked message
    is `message`.

    The event carries the resource after the change, masked as for a caller without
    the sensitive scope: for a resource that masks nothing, the serialization of
    `message` itself (which a write stores as its reply too).
    """
    codec = codec_for(spec)
    if codec.masked:
        masked = spec.message()
        masked.CopyFrom(message)
        resource = codec.mask(masked).SerializeToString()
    else:
        resource = message.SerializeToString()
    return PendingEvent(
        aggregate_type=spec.name,
        aggregate_id=aggregate_id,
        aggregate_version=revision,
        event_type=f"{spec.name}.{verb}",
        resource_type=spec.resource_type,
        resource=resource,
        changed_fields=tuple(changed),
    )
