"""Who is calling: identity and scopes, as established by the server's call boundary."""

from __future__ import annotations

import contextvars
import time
from dataclasses import dataclass, field

SENSITIVE_SCOPE = "masterdata.sensitive"


@dataclass(frozen=True)
class Caller:
    """The caller of one RPC. Until authentication exists every caller is anonymous."""

    identity: str = "anonymous"
    scopes: frozenset[str] = field(default_factory=frozenset)
    #: Correlation id of the call, for logs and INTERNAL errors.
    call_id: str = ""
    #: time.monotonic() at which the caller's deadline passes; None without one.
    deadline: float | None = None

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
