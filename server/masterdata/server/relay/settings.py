"""The relay's settings: `MASTERDATA_RELAY_<NAME>` in the environment, overridden by flags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from masterdata.server.config import from_environment

ENCODINGS = ("proto", "json")


@dataclass(frozen=True)
class RelaySettings:
    """What an operator can tune in the relay."""

    #: NATS server(s), comma-separated.
    nats_url: str = "nats://127.0.0.1:4222"
    #: JetStream stream, created (file storage, subjects `<subject_prefix>.>`) if missing.
    stream: str = "MASTERDATA"
    #: First token of every subject: `<prefix>.<aggregate_type>.<verb>`.
    subject_prefix: str = "masterdata"
    #: Message body: the Event protobuf ("proto") or its JSON mapping ("json").
    encoding: str = "proto"
    #: Publishes awaiting their acknowledgement at most.
    in_flight: int = 1000
    #: Events per read of the events table.
    page_size: int = 1000
    #: Seconds between reads of the table when no notification came (SQLite has none).
    poll_interval_s: float = 0.5
    #: Seconds between a standby's attempts to take the lease, and the leader's checks of it.
    takeover_interval_s: float = 1.0
    #: Seconds an acknowledgement may take before NATS counts as unreachable.
    ack_timeout_s: float = 5.0
    #: JetStream's duplicate window of a stream the relay creates.
    duplicate_window_s: float = 120.0
    #: Most seconds between attempts to reach NATS (the wait doubles up to this).
    max_backoff_s: float = 5.0
    #: Port of the Prometheus /metrics endpoint; 0 = none.
    metrics_port: int = 0
    #: Address the /metrics endpoint binds.
    metrics_address: str = "127.0.0.1"

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> RelaySettings:
        """Defaults, then the environment, then explicit overrides (flags, tests)."""
        settings = from_environment(cls, "MASTERDATA_RELAY_", environ, overrides)
        settings.check()
        return settings

    def check(self) -> None:
        """ValueError naming the first setting that cannot work."""
        if self.encoding not in ENCODINGS:
            raise ValueError(f"relay encoding must be one of {', '.join(ENCODINGS)}")
        if self.in_flight < 1 or self.page_size < 1:
            raise ValueError("relay in_flight and page_size must be at least 1")
