"""The one table from domain errors to gRPC status codes with google.rpc details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from masterdata.server.domain.errors import (
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    MasterdataError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

DOMAIN = "masterdata.v1"
#: Details must fit in gRPC's trailing metadata (8 KiB by default): a request with
#: thousands of bad fields names the first ones, each path and text cut short.
MAX_VIOLATIONS = 20
MAX_DETAIL_CHARS = 200

STATUS_CODES: dict[type[MasterdataError], grpc.StatusCode] = {
    InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    Aborted: grpc.StatusCode.ABORTED,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Unavailable: grpc.StatusCode.UNAVAILABLE,
    ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def status_code_of(error: MasterdataError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: MasterdataError) -> grpc.Status:
    """A grpc.Status whose trailing metadata carries google.rpc.Status details."""
    code = status_code_of(error)
    violations = list(getattr(error, "violations", []))
    field = getattr(error, "field", "")
    if field:
        violations.append(FieldViolation(field, error.message, error.reason))
    metadata = dict(error.metadata)
    if len(violations) > MAX_VIOLATIONS:
        metadata["violations_omitted"] = str(len(violations) - MAX_VIOLATIONS)
        del violations[MAX_VIOLATIONS:]
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=metadata))
    ]
    if violations:
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field[:MAX_DETAIL_CHARS],
                            description=v.description[:MAX_DETAIL_CHARS],
                            reason=v.reason,
                        )
                        for v in violations
                    ]
                )
            )
        )
    if isinstance(error, ResourceExhausted):
        delay = duration_pb2.Duration()
        delay.FromMilliseconds(int(error.retry_after_s * 1000))
        details.append(_pack(error_details_pb2.RetryInfo(retry_delay=delay)))
    return rpc_status.to_status(
        status_pb2.Status(code=code.value[0], message=error.message, details=details)
    )


def internal_status(call_id: str) -> grpc.Status:
    """INTERNAL for an unexpected error: a correlation id, never a traceback."""
    info = error_details_pb2.ErrorInfo(
        reason="INTERNAL", domain=DOMAIN, metadata={"call_id": call_id}
    )
    return rpc_status.to_status(
        status_pb2.Status(
            code=code_pb2.INTERNAL,
            message=f"internal error; quote call id {call_id} to the operator",
            details=[_pack(info)],
        )
    )
