"""One exception for every failed call, decoded from the `google.rpc` status details.

Callers catch `MasterdataError` (or a per-code subclass such as `NotFoundError`)
instead of `grpc.RpcError`, and read the stable `reason` and the bad fields without
touching `grpc-status-details-bin` themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from masterdata.client.resources import descriptor_of

REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True)
class FieldViolation:
    """One bad field of a request (`google.rpc.BadRequest` or `PreconditionFailure`)."""

    field: str
    description: str
    reason: str | None = None


@dataclass(eq=False)
class MasterdataError(Exception):
    """A call that ended with a status other than OK.

    Attributes:
        code: The gRPC status code.
        message: The status message.
        reason: `google.rpc.ErrorInfo.reason`, a stable machine-readable cause.
        domain: `google.rpc.ErrorInfo.domain`.
        metadata: `google.rpc.ErrorInfo.metadata` (e.g. `call_id` of INTERNAL errors).
        violations: Every bad field, from BadRequest and PreconditionFailure.
        retry_after: Seconds to wait, from `google.rpc.RetryInfo`.
        request_id: The server's `x-request-id` for this call, to quote in logs.
        details: Every decoded detail message, for what the fields above leave out.
    """

    code: grpc.StatusCode
    message: str
    reason: str | None = None
    domain: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    violations: list[FieldViolation] = field(default_factory=list)
    retry_after: float | None = None
    request_id: str | None = None
    details: list[Message] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.reason:
            text += f" [{self.reason}]"
        if self.violations:
            text += "; " + "; ".join(f"{v.field}: {v.description}" for v in self.violations)
        return text

    @property
    def fields(self) -> set[str]:
        """Names of the bad fields."""
        return {v.field for v in self.violations}


class InvalidArgumentError(MasterdataError):
    """INVALID_ARGUMENT: the request is wrong; `violations` says where."""


class NotFoundError(MasterdataError):
    """NOT_FOUND: no resource with that id."""


class AlreadyExistsError(MasterdataError):
    """ALREADY_EXISTS: a live resource with the same unique key exists."""


class FailedPreconditionError(MasterdataError):
    """FAILED_PRECONDITION: the system is not in the state the call needs."""


class AbortedError(MasterdataError):
    """ABORTED: a stale etag or a concurrency conflict; re-read and retry."""


class UnauthenticatedError(MasterdataError):
    """UNAUTHENTICATED: missing, bad or expired credentials."""


class PermissionDeniedError(MasterdataError):
    """PERMISSION_DENIED: the caller lacks a scope."""


class ResourceExhaustedError(MasterdataError):
    """RESOURCE_EXHAUSTED: rate limited or too large; see `retry_after`."""


class UnavailableError(MasterdataError):
    """UNAVAILABLE: the server or its database is unreachable (after retries)."""


class DeadlineExceededError(MasterdataError):
    """DEADLINE_EXCEEDED: the call ran past its deadline."""


_SUBCLASSES: dict[grpc.StatusCode, type[MasterdataError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.ABORTED: AbortedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}

#: The google.rpc detail types decoded; others are skipped.
_DETAIL_TYPES: tuple[type[Message], ...] = (
    error_details_pb2.ErrorInfo,
    error_details_pb2.BadRequest,
    error_details_pb2.PreconditionFailure,
    error_details_pb2.RetryInfo,
    error_details_pb2.ResourceInfo,
    error_details_pb2.QuotaFailure,
    error_details_pb2.DebugInfo,
    error_details_pb2.Help,
    error_details_pb2.LocalizedMessage,
)


def from_rpc_error(error: grpc.RpcError) -> MasterdataError:
    """The MasterdataError for a failed sync or aio call (both are `grpc.Call`s)."""
    call: Any = error
    code: grpc.StatusCode = call.code()
    cls = _SUBCLASSES.get(code, MasterdataError)
    result = cls(code=code, message=call.details() or "", request_id=_request_id(call))
    _apply_details(result, _status_of(call))
    return result


def _status_of(call: Any) -> status_pb2.Status | None:
    try:
        return rpc_status.from_call(call)
    except ValueError:  # a status whose code contradicts the call's: ignore its details
        return None


def _request_id(call: Any) -> str | None:
    for key, value in call.trailing_metadata() or ():
        if key == REQUEST_ID_HEADER:
            return str(value)
    return None


def _unpack(detail: any_pb2.Any) -> Message | None:
    for cls in _DETAIL_TYPES:
        if detail.Is(descriptor_of(cls)):
            message = cls()
            detail.Unpack(message)
            return message
    return None


def _apply_details(error: MasterdataError, status: status_pb2.Status | None) -> None:
    for detail in status.details if status is not None else ():
        message = _unpack(detail)
        if message is None:
            continue
        error.details.append(message)
        if isinstance(message, error_details_pb2.ErrorInfo):
            error.reason, error.domain = message.reason or None, message.domain or None
            error.metadata = dict(message.metadata)
        elif isinstance(message, error_details_pb2.BadRequest):
            error.violations += [
                FieldViolation(v.field, v.description, v.reason or None)
                for v in message.field_violations
            ]
        elif isinstance(message, error_details_pb2.PreconditionFailure):
            error.violations += [
                FieldViolation(v.subject, v.description, v.type or None) for v in message.violations
            ]
        elif isinstance(message, error_details_pb2.RetryInfo):
            error.retry_after = message.retry_delay.ToTimedelta().total_seconds()
