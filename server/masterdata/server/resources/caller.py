"""Who is calling: identity and scopes, as established by the server's call boundary."""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field

SENSITIVE_SCOPE = "masterdata.sensitive"


@dataclass(frozen=True)
class IdempotencyKey:
    """A client's request_id as the server keys it: for one caller and one method,
    with a fingerprint of the request it came with (the request without it)."""

    #: The canonical UUID; as sent when it is none, refused when claimed.
    request_id: str
    method: str
    fingerprint: bytes


@dataclass(frozen=True)
class Caller:
    """The caller of one RPC. Until authentication exists every caller is anonymous."""

    identity: str = "anonymous"
    scopes: frozenset[str] = field(default_factory=frozenset)
    #: Correlation id of the call, for logs and INTERNAL errors.
    call_id: str = ""
    #: time.monotonic() at which the caller's deadline passes; None without one.
    deadline: float | None = None
    #: The call's request_id, when the client sent one (resources/idempotent.py).
    idempotency: IdempotencyKey | None = None

    @property
    def request_id(self) -> str:
        """The client's request_id ('' without one): what events record."""
        return self.idempotency.request_id if self.idempotency else ""

    @property
    def sees_sensitive(self) -> bool:
        return SENSITIVE_SCOPE in self.scopes

    def time_left(self) -> float | None:
        """Seconds until the deadline (never negative), or None without a deadline."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())


ANONYMOUS = Caller()
_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller", default=ANONYMOUS)


def current_caller() -> Caller:
    return _current.get()


def set_current_caller(caller: Caller) -> contextvars.Token[Caller]:
    return _current.set(caller)
