"""Authentication, authorization, rate limits and stream caps, decided in one place."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from masterdata.server.domain.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from masterdata.server.security.api_keys import ApiKeyStore
from masterdata.server.security.certificates import CertificateIdentities
from masterdata.server.security.identity import ADMIN, READ, WRITE, Principal
from masterdata.server.security.jwt_tokens import JwtVerifier, looks_like_jwt
from masterdata.server.security.rate_limit import RateLimiter
from masterdata.server.security.scopes import extra_scope

#: With authentication off every caller is this principal: it may read and write,
#: but never sees sensitive values unmasked.
ANONYMOUS = Principal("anonymous", frozenset({READ, WRITE, ADMIN}))
_BAD_TOKEN = "missing or invalid credentials"


@dataclass
class Gatekeeper:
    """Turns call metadata into a Principal and decides whether the call may run."""

    scopes: Mapping[str, str]
    api_keys: ApiKeyStore | None = None
    jwt: JwtVerifier | None = None
    certificates: CertificateIdentities | None = None
    limiter: RateLimiter | None = None
    max_streams_per_identity: int = 0
    _open_streams: Counter[str] = field(default_factory=Counter)

    @property
    def authenticates(self) -> bool:
        return self.bearer_tokens or self.certificates is not None

    @property
    def bearer_tokens(self) -> bool:
        """Whether bearer tokens (API keys or JWTs) can be checked."""
        return self.api_keys is not None or self.jwt is not None

    def authenticate(
        self,
        metadata: Iterable[tuple[str, Any]],
        auth_context: Callable[[], Mapping[str, Any]] | None = None,
    ) -> Principal:
        """The caller's principal; UNAUTHENTICATED with no hint of what was wrong.

        A bearer token, when one is sent and tokens are configured, decides alone:
        a bad token is refused even with a good client certificate, so a client
        never runs as someone it did not mean to be. Without a token the client
        certificate decides (`auth_context` is grpc's, read only when needed).
        """
        if not self.authenticates:
            return ANONYMOUS
        values = [v for k, v in metadata if k == "authorization" and isinstance(v, str)]
        if self.bearer_tokens and values:
            return self._bearer(values)
        if self.certificates is not None and auth_context is not None:
            principal = self.certificates.principal(auth_context())
            if principal is not None:
                return principal
        raise Unauthenticated(_BAD_TOKEN)

    def _bearer(self, values: list[str]) -> Principal:
        scheme, _, token = values[0].partition(" ") if len(values) == 1 else ("", "", "")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:  # the scheme is case-insensitive (RFC 7235)
            raise Unauthenticated(_BAD_TOKEN)
        principal = None
        if self.jwt is not None and looks_like_jwt(token):
            principal = self.jwt.verify(token)
        if principal is None and self.api_keys is not None:
            principal = self.api_keys.verify(token)
        if principal is None:
            raise Unauthenticated(_BAD_TOKEN)
        return principal

    def authorize(self, principal: Principal, method: str, request: Any | None) -> None:
        needed = [self.scopes.get(method, ADMIN)]
        extra = extra_scope(request) if request is not None else None
        if extra:
            needed.append(extra)
        missing = [scope for scope in needed if scope not in principal.scopes]
        if missing:
            raise PermissionDenied(
                f"{method} needs scope {' and '.join(missing)}",
                reason="MISSING_SCOPE",
                metadata={"scopes": " ".join(missing)},
            )

    def admit(self, principal: Principal) -> None:
        """Token-bucket rate limit per identity."""
        if self.limiter is None:
            return
        wait = self.limiter.acquire(principal.name)
        if wait > 0:
            raise ResourceExhausted(
                "rate limit exceeded; retry later", retry_after_s=wait, reason="RATE_LIMITED"
            )

    def open_stream(self, principal: Principal) -> None:
        if self.max_streams_per_identity and (
            self._open_streams[principal.name] >= self.max_streams_per_identity
        ):
            raise ResourceExhausted(
                f"at most {self.max_streams_per_identity} open streams per caller",
                retry_after_s=1.0,
                reason="TOO_MANY_STREAMS",
            )
        self._open_streams[principal.name] += 1

    def close_stream(self, principal: Principal) -> None:
        self._open_streams[principal.name] -= 1
        if self._open_streams[principal.name] <= 0:
            del self._open_streams[principal.name]
