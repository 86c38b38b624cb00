"""JWT bearer tokens (PyJWT): HS256 with a shared secret or RS256 with a public key."""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from masterdata.server.security.identity import Principal, parse_scopes


@dataclass(frozen=True)
class JwtVerifier:
    """Checks signature, `exp`, `nbf`, and `iss`/`aud` when configured; `sub` is the identity."""

    key: str
    algorithm: str  # "HS256" or "RS256"
    issuer: str = ""
    audience: str = ""
    leeway_s: float = 30.0

    def verify(self, token: str) -> Principal | None:
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                issuer=self.issuer or None,
                audience=self.audience or None,
                leeway=self.leeway_s,
                options={"require": ["exp", "sub"], "verify_aud": bool(self.audience)},
            )
        except jwt.PyJWTError:
            return None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            return None
        return Principal(subject, parse_scopes(claims.get("scope", claims.get("scp"))))


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2
