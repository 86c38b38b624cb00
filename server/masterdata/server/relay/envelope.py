"""An event as a NATS message: its subject, its body and the headers consumers filter on.

The body is the `Event` protobuf, or its JSON mapping (proto3 JSON, the resource
as an `Any` with its `@type`). The headers repeat what a consumer routes by, so it
need not decode the body to do so; `Nats-Msg-Id` (the event id) lets JetStream drop
a retried publish inside its duplicate window.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import json_format

# The resources an event's Any may hold must be known to the JSON mapping.
from masterdata.v1 import (  # noqa: F401
    commodity_pb2,
    events_pb2,
    location_pb2,
    organization_pb2,
    trade_terms_pb2,
)

MSG_ID = "Nats-Msg-Id"
SEQUENCE = "Masterdata-Sequence"
AGGREGATE_TYPE = "Masterdata-Aggregate-Type"
AGGREGATE_ID = "Masterdata-Aggregate-Id"
AGGREGATE_VERSION = "Masterdata-Aggregate-Version"
EVENT_TYPE = "Masterdata-Event-Type"
CONTENT_TYPE = "Content-Type"
CONTENT_TYPES = {
    "proto": "application/protobuf; proto=masterdata.v1.Event",
    "json": "application/json",
}


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event, ready to publish."""

    sequence: int
    subject: str
    body: bytes
    headers: dict[str, str]


def subject_of(prefix: str, event: events_pb2.Event) -> str:
    """`<prefix>.<aggregate_type>.<verb>`: event types are `<aggregate_type>.<verb>`."""
    verb = event.event_type.removeprefix(event.aggregate_type + ".")
    return f"{prefix}.{event.aggregate_type}.{verb}"


def envelope(event: events_pb2.Event, prefix: str, encoding: str) -> Envelope:
    """The message that carries `event` (encoding "proto" or "json")."""
    if encoding == "json":
        body = json_format.MessageToJson(event, indent=None).encode()
    else:
        body = event.SerializeToString()
    headers = {
        MSG_ID: event.event_id,
        SEQUENCE: str(event.sequence),
        AGGREGATE_TYPE: event.aggregate_type,
        AGGREGATE_ID: event.aggregate_id,
        AGGREGATE_VERSION: str(event.aggregate_version),
        EVENT_TYPE: event.event_type,
        CONTENT_TYPE: CONTENT_TYPES[encoding],
    }
    return Envelope(event.sequence, subject_of(prefix, event), body, headers)
