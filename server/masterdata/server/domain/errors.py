"""The one exception tree of the service; api/errors.py maps it to gRPC statuses."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: `field` is its path in the request (e.g. `location.latitude`)."""

    field: str
    description: str
    reason: str = ""


class MasterdataError(Exception):
    """Base of every error the service raises on purpose.

    `reason` is a stable UPPER_SNAKE identifier for google.rpc.ErrorInfo;
    `metadata` adds string facts to it (e.g. the id that was not found).
    """

    default_reason = "MASTERDATA_ERROR"

    def __init__(
        self, message: str, *, reason: str = "", metadata: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or self.default_reason
        self.metadata = dict(metadata or {})


class InvalidArgument(MasterdataError):
    """The request is malformed; `violations` names every bad field."""

    default_reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        message: str,
        *,
        violations: Iterable[FieldViolation] = (),
        reason: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.violations = list(violations)
        if not reason and len({v.reason for v in self.violations if v.reason}) == 1:
            reason = next(v.reason for v in self.violations if v.reason)
        super().__init__(message, reason=reason, metadata=metadata)


class NotFound(MasterdataError):
    default_reason = "NOT_FOUND"


class AlreadyExists(MasterdataError):
    """A uniqueness rule among live rows was violated, or an undelete of a live row."""

    default_reason = "ALREADY_EXISTS"

    def __init__(
        self,
        message: str,
        *,
        field: str = "",
        reason: str = "",
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.field = field


class FailedPrecondition(MasterdataError):
    default_reason = "FAILED_PRECONDITION"


class Aborted(MasterdataError):
    """Optimistic concurrency failed (stale etag) or a conflicting transaction won."""

    default_reason = "ABORTED"


class Unauthenticated(MasterdataError):
    """No valid credentials; the message never says which part was wrong."""

    default_reason = "UNAUTHENTICATED"


class PermissionDenied(MasterdataError):
    """Valid credentials without the scope the call needs."""

    default_reason = "PERMISSION_DENIED"


class DeadlineExceeded(MasterdataError):
    """The caller's deadline passed while the database was still working."""

    default_reason = "DEADLINE_EXCEEDED"


class Unavailable(MasterdataError):
    """The database cannot be reached; the caller may retry."""

    default_reason = "DATABASE_UNAVAILABLE"


class ResourceExhausted(MasterdataError):
    default_reason = "RESOURCE_EXHAUSTED"

    def __init__(self, message: str, *, retry_after_s: float = 1.0, reason: str = "") -> None:
        super().__init__(message, reason=reason)
        self.retry_after_s = retry_after_s


@dataclass
class ViolationCollector:
    """Gathers every violation of a request, then raises them together.

    Violations come from `add`, or from the InvalidArgument of a check run through
    `check`, so a request's parsers all run and the caller learns every bad field
    at once, not the first found.
    """

    prefix: str = ""
    violations: list[FieldViolation] = field(default_factory=list)
    #: The errors of the checks run through `check`.
    errors: list[InvalidArgument] = field(default_factory=list)

    def add(self, field_name: str, description: str, reason: str = "") -> None:
        path = f"{self.prefix}.{field_name}" if self.prefix else field_name
        self.violations.append(FieldViolation(path, description, reason))

    def check(self, parse: Callable[[], T], instead: T) -> T:
        """`parse()`, or `instead` if it raised InvalidArgument (kept for `raise_if_any`)."""
        try:
            return parse()
        except InvalidArgument as problem:
            self.errors.append(problem)
            self.violations.extend(problem.violations)
            return instead

    def raise_if_any(self, message: str = "the request has invalid fields") -> None:
        if not (self.violations or self.errors):
            return
        added = len(self.violations) - sum(len(error.violations) for error in self.errors)
        if not added:
            if len(self.errors) == 1:
                raise self.errors[0]  # one check's error as it was: its message and reason
            message = "; ".join(error.message for error in self.errors)
        raise InvalidArgument(message, violations=self.violations)
