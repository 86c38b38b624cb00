"""The event of a changed row, as every write path records it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message

from masterdata.server.resources.codec import codec_for
from masterdata.server.resources.spec import ResourceSpec
from masterdata.server.storage.unit_of_work import PendingEvent


def pending_event(
    spec: ResourceSpec, row: Any, verb: str, changed: Iterable[str] = ()
) -> tuple[PendingEvent, Message]:
    """The event `<spec.name>.<verb>` of `row`, and the row's unmasked message.

    The event carries the resource after the change, masked as for a caller without
    the sensitive scope.
    """
    codec = codec_for(spec)
    message = codec.to_message(row, reveal=True)
    masked = spec.message()
    masked.CopyFrom(message)
    codec.mask(masked)
    event = PendingEvent(
        aggregate_type=spec.name,
        aggregate_id=row.id,
        aggregate_version=row.revision,
        event_type=f"{spec.name}.{verb}",
        resource_type=spec.resource_type,
        resource=masked.SerializeToString(),
        changed_fields=tuple(changed),
    )
    return event, message
