"""The event log (the audit trail and the feed) and idempotency keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from masterdata.server.storage.base import Base, BigIntegerPK


class EventRow(Base):
    """One committed change. `sequence` follows commit order (see storage/postgres/__init__.py)."""

    __tablename__ = "events"

    sequence: Mapped[int] = mapped_column(BigIntegerPK, primary_key=True, autoincrement=True)
    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True)
    aggregate_type: Mapped[str] = mapped_column(String(50))
    aggregate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    aggregate_version: Mapped[int] = mapped_column(BigInteger)
    event_type: Mapped[str] = mapped_column(String(100))
    #: Fully qualified proto name of `resource`, e.g. masterdata.v1.Location.
    resource_type: Mapped[str] = mapped_column(String(200))
    #: The resource after the change, serialised protobuf (sensitive fields masked).
    resource: Mapped[bytes] = mapped_column(LargeBinary)
    changed_fields: Mapped[list[Any]] = mapped_column(default=list)
    actor: Mapped[str] = mapped_column(String(200), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")
    occur_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_events_aggregate", "aggregate_type", "aggregate_id", "sequence"),
        Index("ix_events_event_type", "event_type", "sequence"),
        # Never reuse a sequence number, even if the newest rows were removed by hand.
        {"sqlite_autoincrement": True},
    )


class IdempotencyKeyRow(Base):
    """The stored reply of a call made with a client-chosen request_id.

    The key is (request_id, identity, method): another caller's request_id, or the
    same one sent to another method, is another key. A retry with the same key and
    the same request (`fingerprint`) returns `response` instead of acting again;
    rows older than the retention period (24 h) may be purged.
    """

    __tablename__ = "idempotency_keys"

    request_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    identity: Mapped[str] = mapped_column(String(200), primary_key=True)
    method: Mapped[str] = mapped_column(String(200), primary_key=True)
    #: SHA-256 of the request without its request_id (resources/idempotent.py).
    fingerprint: Mapped[bytes] = mapped_column(LargeBinary)
    response: Mapped[bytes] = mapped_column(LargeBinary)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
