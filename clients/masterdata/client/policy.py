"""What happens to every outgoing call, for both the aio and the sync interceptors.

- a default deadline by call kind when the caller gave none;
- `authorization: Bearer <token>` when the client has a token (as metadata rather
  than call credentials, so it also works on a plaintext loopback channel);
- an empty top-level `request_id` filled with a fresh UUID, on a copy of the
  request, so grpc's transparent retries are deduplicated by the server; the same
  id goes out as `x-request-id` so the server log and the error quote it;
- the caller's OpenTelemetry trace context (`traceparent`), when there is one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from masterdata.client.config import ConnectionConfig
from masterdata.client.errors import REQUEST_ID_HEADER
from masterdata.client.methods import REQUEST_ID, MethodInfo, lookup
from masterdata.client.tracing import add_trace_context

Metadata = list[tuple[str, str | bytes]]


@dataclass(frozen=True)
class Prepared:
    """A call after the policy: its deadline, metadata and (maybe copied) request."""

    timeout: float | None
    metadata: Metadata
    request: Any


class CallPolicy:
    """Applies the client's defaults to one call; holds no per-call state."""

    def __init__(self, config: ConnectionConfig) -> None:
        self._timeouts = config.timeouts
        self._auth = f"Bearer {config.token}" if config.token else None

    def prepare(
        self,
        method: str | bytes,
        timeout: float | None,
        metadata: Iterable[tuple[str, str | bytes]] | None,
        request: Any = None,
    ) -> Prepared:
        info = lookup(method)
        pairs: Metadata = list(metadata or ())
        keys = {key for key, _ in pairs}
        if timeout is None and info is not None:
            timeout = self._timeouts.for_kind(info.kind)
        if self._auth and "authorization" not in keys:
            pairs.append(("authorization", self._auth))
        if info is not None and isinstance(request, Message):
            request = fill_request_id(info, request)
            given = getattr(request, REQUEST_ID, "") if info.has_request_id else ""
            if given and REQUEST_ID_HEADER not in keys:
                pairs.append((REQUEST_ID_HEADER, given))
        if "traceparent" not in keys:
            add_trace_context(pairs)
        return Prepared(timeout, pairs, request)


def fill_request_id(info: MethodInfo, request: Message) -> Message:
    """`request` with a fresh request_id when it has the field and it is empty.

    The caller's message is left alone: reusing it for another call must not make
    that call a duplicate of this one.
    """
    if not info.has_request_id or getattr(request, REQUEST_ID):
        return request
    filled = type(request)()
    filled.CopyFrom(request)
    setattr(filled, REQUEST_ID, str(uuid.uuid4()))
    return filled
