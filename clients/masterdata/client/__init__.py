"""The Python SDK of masterdata: async and blocking clients, resumable feed, mirror.

    from masterdata.client import Client, MasterdataError, Mirror
    from masterdata.v1 import commodity_pb2

    async with Client("127.0.0.1:50051", token=None) as client:
        reply = await client.commodities.GetCommodity(commodity_pb2.GetCommodityRequest(id=i))

Interface:

- `Client(target="127.0.0.1:50051", token=None, tls_ca=None, *, tls=False,
  tls_cert=None, tls_key=None, tls_server_name=None, default_timeouts=Timeouts(),
  retry=RetryPolicy(), options=())` — async; `async with` or `await client.close()`.
  Attributes `locations`, `organizations`, `commodities`, `trade_terms`, `events`,
  `health`: the generated masterdata.v1 (and grpc.health.v1) stubs on one channel that
  * fills an empty top-level `request_id` with a UUID (on a copy of the request) and
    sends it as `x-request-id`;
  * gives calls without a timeout a default deadline by kind (`Timeouts`: read 10 s,
    write 30 s, streams and feeds none);
  * retries UNAVAILABLE with exponential backoff (grpc service config,
    `grpc.enable_retries`) for reads (Get/List/BatchGet/Search/Suggest/Convert/
    Export/Check) and for writes whose request has a `request_id`;
  * raises `MasterdataError` (never `grpc.RpcError`).
  Methods:
  * `list_all(resource, request=None, *, page_size=1000)` — async iterator over every
    page of a List method: `client.list_all("commodities", ListCommoditiesRequest(filter=...))`.
  * `subscribe(after_sequence=0, aggregate_types=(), event_types=(), *,
    idle_timeout_s=60)` — async iterator of `events_pb2.Event`, forever; resumes
    after UNAVAILABLE, a server restart or silence, with no event lost or repeated.
  * `subscribe_items(FeedCursor(...))` — the same with `caught_up`/heartbeat items.
  * `head_sequence()` — the newest event's sequence.
  * `import_commodities(source, *, upsert=False, validate_only=False, atomic=False,
    batch_size=None, request_id=None, strict=False, on_progress=None) -> ImportResult`
    — `source`
    a CSV path/bytes/binary file or Commodity messages (streamed through
    UploadCommodities, any size) or an `.xlsx` path (ImportCommodities);
    `on_progress(ImportProgress)` after every server batch and at the end;
    `ImportResult(summary: ImportSummary, row_errors: list[ImportRowError], request_id)`;
    header cells naming no column are `summary.ignored_columns` (INVALID_ARGUMENT
    with `strict`).
  * `export_commodities(destination, *, format="csv"|"xlsx", filter="",
    include_varieties=False, on_progress=None) -> int` — streams into a path or
    binary file, `on_progress(ExportProgress)` per chunk; returns data rows written.
    XLSX counts its rows with openpyxl: `pip install 'masterdata-client[xlsx]'`
    (ImportError naming it, before the download, without).
- `SyncClient(...)` — same arguments and attributes, blocking (grpc sync channel,
  same policy); `list_all`, `subscribe` (an iterator), `subscribe_items`,
  `head_sequence`, `import_commodities`, `export_commodities`; `with` or `close()`.
- `MasterdataError(code, message, reason, domain, metadata, violations, retry_after,
  request_id, details)`; per-code subclasses (`NotFoundError`, `InvalidArgumentError`,
  ...); `str()` names the status, the reason and each bad field.
  `FieldViolation(field, description, reason)`.
- `Mirror(client, resource, *, where=None, on_change=None)` — `async with` (or
  `start()`/`stop()`); `await mirror.synced()`, `get(id)`, `values()`, `items()`,
  `len()`, `in`, `on_change(cb)` with `cb(kind, old, new)`, kind "added" | "updated" |
  "deleted"; current through server restarts.
"""

from masterdata.client.bulk import ExportProgress, ImportProgress, ImportResult
from masterdata.client.client import Client
from masterdata.client.config import ConnectionConfig, RetryPolicy, Timeouts
from masterdata.client.errors import (
    AbortedError,
    AlreadyExistsError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InvalidArgumentError,
    MasterdataError,
    NotFoundError,
    PermissionDeniedError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from masterdata.client.feed import FeedCursor
from masterdata.client.mirror import Mirror
from masterdata.client.sync_client import SyncClient

__all__ = [
    "AbortedError",
    "AlreadyExistsError",
    "Client",
    "ConnectionConfig",
    "DeadlineExceededError",
    "ExportProgress",
    "FailedPreconditionError",
    "FeedCursor",
    "FieldViolation",
    "ImportProgress",
    "ImportResult",
    "InvalidArgumentError",
    "MasterdataError",
    "Mirror",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "RetryPolicy",
    "SyncClient",
    "Timeouts",
    "UnauthenticatedError",
    "UnavailableError",
]
