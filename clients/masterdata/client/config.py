"""Connection settings shared by Client and SyncClient: deadlines, retries, TLS.

Retries are grpc's own (a service config in the channel options), so they happen
below the interceptors, with the request_id the interceptor filled in once; the
server sees the same id on every attempt and performs the write only once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from masterdata.client.methods import CallKind, MethodInfo, method_table

DEFAULT_TARGET = "127.0.0.1:50051"
#: The server's default MASTERDATA_MAX_MESSAGE_BYTES; grpc's client default is 4 MiB.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Timeouts:
    """Default deadline in seconds per call kind, used when a call passes none.

    None means no deadline. Imports and exports run as long as their data takes and
    feeds forever, so streams have none by default.
    """

    read: float | None = 10.0
    write: float | None = 30.0
    stream: float | None = None
    feed: float | None = None

    def for_kind(self, kind: CallKind) -> float | None:
        return {
            CallKind.READ: self.read,
            CallKind.WRITE: self.write,
            CallKind.STREAM: self.stream,
            CallKind.FEED: self.feed,
        }[kind]


@dataclass(frozen=True)
class RetryPolicy:
    """grpc retry policy for retryable methods (reads and writes with a request_id)."""

    max_attempts: int = 5  # grpc caps this at 5
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 2.0
    backoff_multiplier: float = 2.0
    status_codes: tuple[str, ...] = ("UNAVAILABLE",)

    def as_json(self) -> dict[str, Any]:
        return {
            "maxAttempts": self.max_attempts,
            "initialBackoff": f"{self.initial_backoff_s}s",
            "maxBackoff": f"{self.max_backoff_s}s",
            "backoffMultiplier": self.backoff_multiplier,
            "retryableStatusCodes": list(self.status_codes),
        }


def service_config(methods: Iterable[MethodInfo], retry: RetryPolicy) -> dict[str, Any]:
    """A grpc service config retrying exactly the retryable methods."""
    names = [{"service": m.service, "method": m.name} for m in methods if m.retryable]
    return {"methodConfig": [{"name": names, "retryPolicy": retry.as_json()}]}


@dataclass(frozen=True)
class ConnectionConfig:
    """Where and how to connect; what both clients build their channel from."""

    target: str = DEFAULT_TARGET
    token: str | None = None
    tls_ca: str | Path | None = None
    tls: bool = False
    tls_cert: str | Path | None = None
    tls_key: str | Path | None = None
    tls_server_name: str | None = None
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_message_bytes: int = MAX_MESSAGE_BYTES
    options: Sequence[tuple[str, Any]] = ()

    @property
    def secure(self) -> bool:
        return self.tls or self.tls_ca is not None or self.tls_cert is not None

    def channel_options(self) -> list[tuple[str, Any]]:
        config = service_config(method_table().values(), self.retry)
        options: list[tuple[str, Any]] = [
            ("grpc.enable_retries", 1),
            ("grpc.service_config", json.dumps(config)),
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
        ]
        if self.tls_server_name:
            options.append(("grpc.ssl_target_name_override", self.tls_server_name))
        return options + list(self.options)

    def credentials(self) -> grpc.ChannelCredentials:
        """TLS credentials: the CA file when given, else the system roots; mTLS with a cert."""
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.tls_ca),
            private_key=_read(self.tls_key),
            certificate_chain=_read(self.tls_cert),
        )


def _read(path: str | Path | None) -> bytes | None:
    return Path(path).read_bytes() if path is not None else None
