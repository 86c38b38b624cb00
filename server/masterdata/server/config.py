"""Settings from `MASTERDATA_*` environment variables, overridden by CLI flags."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./masterdata.db"
#: Bare URL schemes operators write, and the async driver each means here.
BARE_SCHEMES = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}

T = TypeVar("T")


def normalise_database_url(url: str) -> str:
    """`postgres://`, `postgresql://` and `sqlite://` as the async drivers this server runs on.

    Why: libpq, Heroku-style and Django-style URLs are what operators have at hand, and
    SQLAlchemy would read them as sync drivers that are not installed (a traceback).
    """
    scheme, sep, rest = url.strip().partition("://")
    driver = BARE_SCHEMES.get(scheme.lower()) if sep else None
    return f"{driver}://{rest}" if driver else url


@dataclass(frozen=True)
class Settings:
    """Everything an operator can tune. Each field reads `MASTERDATA_<NAME>`."""

    #: SQLAlchemy URL: `sqlite+aiosqlite:///path.db` or `postgresql+asyncpg://...`
    #: (`postgres://`, `postgresql://` and `sqlite://` mean those drivers).
    database_url: str = DEFAULT_DATABASE_URL
    #: host:port to listen on; port 0 picks a free port.
    listen: str = "127.0.0.1:50051"
    #: Server processes sharing the port (SO_REUSEPORT); more than 1 needs PostgreSQL.
    workers: int = 1
    #: Share the port with other processes (set for workers); otherwise a taken port fails.
    reuse_port: bool = False
    #: Connections per process kept open to PostgreSQL; also the most the one-row
    #: writes open beside them, as they need them (storage/postgres/writes.py).
    pool_size: int = 10
    #: Extra connections allowed beyond pool_size under bursts.
    max_overflow: int = 10
    #: Connections per process of the lean Get/BatchGet path (PostgreSQL), beyond pool_size.
    read_pool_size: int = 10
    #: Seconds a call waits for a free connection before UNAVAILABLE.
    pool_timeout_s: float = 10.0
    #: Seconds to wait for a new database connection; an outage fails fast with UNAVAILABLE.
    connect_timeout_s: float = 5.0
    #: Seconds in-flight calls get to finish after SIGTERM.
    shutdown_grace_s: float = 10.0
    #: Seconds between database probes that drive the health status.
    health_interval_s: float = 2.0
    #: Default page size of List calls.
    default_page_size: int = 50
    #: Largest page size; larger requests are coerced to it.
    max_page_size: int = 1000
    #: Rendered messages kept per resource type, by (id, revision); 0 = render every time.
    render_cache_size: int = 10_000
    #: Hours a request_id's reply is kept for retries (at least 24, per the contract).
    idempotency_retention_h: float = 48.0
    #: Seconds between purges of expired request_ids.
    idempotency_purge_interval_s: float = 3600.0
    #: Largest number of ids in one BatchGet call.
    max_batch_size: int = 1000
    #: Run migrations at start-up on SQLite (PostgreSQL is migrated with `masterdata migrate`).
    auto_migrate_sqlite: bool = True
    #: Log level name.
    log_level: str = "INFO"
    #: Seconds without a message after which an event subscription gets a heartbeat.
    heartbeat_interval_s: float = 5.0
    #: Seconds between polls of the event table: the fallback for a missed notification.
    feed_poll_interval_s: float = 2.0
    #: Events per read of the event table (shared live batches and catch-up pages).
    #: Small, because a read's rows become messages in one go on the event loop: at
    #: 500, a bulk import's bursts held concurrent reads up for seconds (bench.load d).
    feed_batch_size: int = 100
    #: Most recent events kept in memory (in the batches they were read in) for
    #: subscribers a little behind. Counted in events, not batches: a busy feed reads
    #: a batch per commit, and 50 such batches were a second or two, after which
    #: thousands of subscribers each read the table (bench.load c).
    feed_retained_events: int = 5000
    #: HTTP/2 streams one connection may open (grpc.max_concurrent_streams); 0 = grpc default.
    max_concurrent_streams: int = 0
    #: Unary calls one process handles at once; more are refused at once with
    #: RESOURCE_EXHAUSTED (reason OVERLOADED) and a retry delay. 0 = no limit.
    max_unary_in_flight: int = 500
    #: Calls queued before grpc starts shedding them (grpc.server.max_pending_requests).
    #: grpc's default (1000) CANCELs about half of a burst of 10,000 subscriptions.
    max_pending_requests: int = 20000
    #: Beyond this many queued calls grpc refuses every new one.
    max_pending_requests_hard_limit: int = 40000
    # security and operations
    #: JSON file of API keys: a list of {"name", "sha256" (hex of the key), "scopes"}.
    api_keys_file: str = ""
    #: HS256 secret (at least 32 bytes) that signs JWT bearer tokens; prefer the environment.
    jwt_secret: str = ""
    #: PEM file of the RS256 public key that verifies JWT bearer tokens.
    jwt_public_key_file: str = ""
    #: Required `iss` claim of JWTs; empty = not checked.
    jwt_issuer: str = ""
    #: Required `aud` claim of JWTs; empty = not checked.
    jwt_audience: str = ""
    #: Steady calls per second per identity (token bucket); 0 = no rate limit.
    rate_limit_per_s: float = 0.0
    #: Calls an identity may make in a burst above the steady rate.
    rate_limit_burst: int = 100
    #: Open streams (subscriptions, imports, exports) per identity; 0 = no cap.
    max_streams_per_identity: int = 0
    #: Largest gRPC message the server receives or sends, in bytes.
    max_message_bytes: int = 16 * 1024 * 1024
    #: PEM certificate chain of the server; with tls_key_file, serve TLS.
    tls_cert_file: str = ""
    #: PEM private key of the server certificate.
    tls_key_file: str = ""
    #: PEM CA bundle; when set, clients must present a certificate it signed (mTLS).
    tls_client_ca_file: str = ""
    #: JSON list of {"name", "scopes"}: the scopes of each client certificate identity
    #: (its URI SAN, else DNS SAN, else subject CN); required with tls_client_ca_file
    #: unless API keys or JWT identify callers. Unlisted certificates get no scope.
    tls_client_identities_file: str = ""
    #: Allow a non-loopback listen address without authentication.
    insecure: bool = False
    #: Port of the Prometheus /metrics endpoint; 0 = no endpoint.
    metrics_port: int = 0
    #: Address the /metrics endpoint binds.
    metrics_address: str = "127.0.0.1"
    #: Log format: "text" or "json" (one object per line).
    log_format: str = "text"
    #: The server's event loop: "uvloop" (less CPU per call, measured with
    #: bench/cpu_per_call.py) or "asyncio", the standard library's.
    event_loop: str = "uvloop"
    # bulk import/export
    #: Largest import in bytes: a CSV or XLSX file, or all CSV chunks of one upload.
    max_import_bytes: int = 256 * 1024 * 1024
    #: Most data rows one import or upload may bring.
    max_import_rows: int = 500_000
    #: Rows per import batch (one set-based write, one progress message) when not given.
    default_import_batch_size: int = 500
    #: Largest batch_size an import may ask for; larger values are coerced to it.
    max_import_batch_size: int = 5000
    #: Bytes per chunk of a CSV or XLSX export (the contract allows at most 1 MiB).
    export_chunk_bytes: int = 1024 * 1024
    #: Largest total uncompressed size of an XLSX workbook's parts; larger ones are
    #: INVALID_ARGUMENT (XLSX_TOO_LARGE) before they are inflated. 0 = 8 x max_message_bytes
    #: (a workbook arrives in one message; real ones expand 4-10 times).
    max_xlsx_expanded_bytes: int = 0

    def __post_init__(self) -> None:
        # Every way of making Settings (load, replace, tests) sees the one normal URL.
        object.__setattr__(self, "database_url", normalise_database_url(self.database_url))

    @property
    def xlsx_expanded_limit(self) -> int:
        """max_xlsx_expanded_bytes, or 8 x max_message_bytes when it is 0."""
        return self.max_xlsx_expanded_bytes or 8 * self.max_message_bytes

    def grpc_server_options(self) -> list[tuple[str, int]]:
        """Channel arguments of the gRPC server built from these settings."""
        options = [
            ("grpc.so_reuseport", int(self.reuse_port)),
            ("grpc.server.max_pending_requests", self.max_pending_requests),
            (
                "grpc.server.max_pending_requests_hard_limit",
                max(self.max_pending_requests_hard_limit, self.max_pending_requests),
            ),
        ]
        if self.max_concurrent_streams > 0:
            options.append(("grpc.max_concurrent_streams", self.max_concurrent_streams))
        return options

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the environment, then explicit overrides (CLI flags, tests)."""
        return from_environment(cls, "MASTERDATA_", environ, overrides)


def from_environment(
    cls: type[T], prefix: str, environ: Mapping[str, str] | None, overrides: Mapping[str, Any]
) -> T:
    """A settings dataclass: its defaults, then `<prefix><NAME>` variables of the
    environment (os.environ unless given), then the overrides that are not None."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        raw = environ.get(f"{prefix}{f.name.upper()}")
        if raw is not None:
            values[f.name] = _parse(raw, f.type)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return dataclasses.replace(cls(), **values)  # type: ignore[type-var]


def _parse(raw: str, type_name: Any) -> Any:
    kind = str(type_name)
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw
