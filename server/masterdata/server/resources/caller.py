"""Who is calling: identity and scopes, as established by the server's interceptors."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field

SENSITIVE_SCOPE = "masterdata.sensitive"


@dataclass(frozen=True)
class Caller:
    """The caller of one RPC. Until authentication exists every caller is anonymous."""

    identity: str = "anonymous"
    scopes: frozenset[str] = field(default_factory=frozenset)
    #: Correlation id of the call, for logs and INTERNAL errors.
    call_id: str = ""

    @property
    def sees_sensitive(self) -> bool:
        return SENSITIVE_SCOPE in self.scopes


ANONYMOUS = Caller()
_current: contextvars.ContextVar[Caller] = contextvars.ContextVar("caller", default=ANONYMOUS)


def current_caller() -> Caller:
    return _current.get()


def set_current_caller(caller: Caller) -> contextvars.Token[Caller]:
    return _current.set(caller)
