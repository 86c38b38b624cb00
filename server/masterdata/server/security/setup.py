"""Security settings made into the parts the server runs with, refused early when wrong.

Every check here runs before the database is touched or a port is bound, so a
misconfigured server stops at once with one clear message instead of starting
half-protected.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.protobuf.descriptor import FileDescriptor

from masterdata.server.config import Settings
from masterdata.server.security.api_keys import ApiKeyStore
from masterdata.server.security.certificates import CertificateIdentities
from masterdata.server.security.errors import SecurityConfigError
from masterdata.server.security.gatekeeper import Gatekeeper
from masterdata.server.security.jwt_tokens import JwtVerifier
from masterdata.server.security.rate_limit import RateLimiter
from masterdata.server.security.scopes import build_table
from masterdata.server.security.tls import read_pem, server_credentials

#: RFC 7518 3.2: an HS256 key must be at least as long as the hash output.
MIN_HS256_SECRET_BYTES = 32


@dataclass(frozen=True)
class Security:
    """Who may call (the gatekeeper) and how they connect (TLS credentials or None)."""

    gate: Gatekeeper
    credentials: grpc.ServerCredentials | None


def build_security(settings: Settings, contract: Iterable[FileDescriptor]) -> Security:
    """The gatekeeper and transport credentials for `settings`; SecurityConfigError if wrong."""
    if settings.rate_limit_per_s < 0 or settings.rate_limit_burst < 1:
        raise SecurityConfigError("the rate limit needs rate >= 0 (0 = off) and burst >= 1")
    limiter = None
    if settings.rate_limit_per_s > 0:
        limiter = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    gate = Gatekeeper(
        scopes=build_table(contract),
        api_keys=_api_keys(settings.api_keys_file),
        jwt=_jwt(settings),
        certificates=_certificate_identities(settings),
        limiter=limiter,
        max_streams_per_identity=settings.max_streams_per_identity,
    )
    credentials = server_credentials(
        settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    )
    if settings.tls_client_ca_file and not gate.authenticates:
        raise SecurityConfigError(
            "mTLS (--tls-client-ca) needs --tls-client-identities FILE: a JSON list of "
            '{"name", "scopes"} naming which certificate identities (URI SAN, else DNS SAN, '
            "else subject CN) may do what; or API keys/JWT to identify callers"
        )
    if not (gate.authenticates or settings.insecure or is_loopback(settings.listen)):
        raise SecurityConfigError(
            f"refusing to listen on {settings.listen} without authentication. Configure API "
            "keys (--api-keys-file), JWT (MASTERDATA_JWT_SECRET or --jwt-public-key) or mTLS "
            "(--tls-client-ca); or listen on a loopback address (127.0.0.1, [::1]); "
            "or pass --insecure to serve everyone on this network unauthenticated"
        )
    return Security(gate, credentials)


def is_loopback(listen: str) -> bool:
    """Whether `host:port` (or a unix socket) can be reached from this machine only."""
    if listen.startswith(("unix:", "unix-abstract:")):
        return True
    host = listen.rpartition(":")[0] if ":" in listen else listen
    host = host.removeprefix("[").removesuffix("]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, "", "*": it may resolve to anything
        return False


def _api_keys(path: str) -> ApiKeyStore | None:
    if not path:
        return None
    try:
        return ApiKeyStore.load(Path(path))
    except OSError as error:
        raise SecurityConfigError(
            f"cannot read the API key file {path}: {error.strerror}"
        ) from error
    except (ValueError, KeyError, TypeError) as error:
        raise SecurityConfigError(
            f"{path}: not a JSON list of {{name, sha256, scopes}} API keys ({error})"
        ) from error


def _certificate_identities(settings: Settings) -> CertificateIdentities | None:
    path = settings.tls_client_identities_file
    if not path:
        return None
    if not settings.tls_client_ca_file:
        raise SecurityConfigError(
            "--tls-client-identities needs --tls-client-ca: without mTLS no client "
            "presents a certificate"
        )
    try:
        return CertificateIdentities.load(Path(path))
    except OSError as error:
        raise SecurityConfigError(
            f"cannot read the client identity file {path}: {error.strerror}"
        ) from error
    except ValueError as error:  # json.JSONDecodeError is one
        raise SecurityConfigError(
            f"{path}: not a JSON list of {{name, scopes}} client identities ({error})"
        ) from error


def _jwt(settings: Settings) -> JwtVerifier | None:
    secret, public_file = settings.jwt_secret, settings.jwt_public_key_file
    if secret and public_file:
        raise SecurityConfigError("configure either a JWT secret (HS256) or a public key (RS256)")
    issuer, audience = settings.jwt_issuer, settings.jwt_audience
    if secret:
        if len(secret.encode()) < MIN_HS256_SECRET_BYTES:
            raise SecurityConfigError(
                f"the JWT secret must be at least {MIN_HS256_SECRET_BYTES} bytes long"
            )
        return JwtVerifier(key=secret, algorithm="HS256", issuer=issuer, audience=audience)
    if public_file:
        pem = read_pem(public_file, "JWT public key")
        try:
            key = serialization.load_pem_public_key(pem)
        except ValueError as error:
            raise SecurityConfigError(f"{public_file} is not a PEM public key") from error
        if not isinstance(key, rsa.RSAPublicKey):
            raise SecurityConfigError(f"{public_file}: RS256 needs an RSA public key")
        return JwtVerifier(key=pem.decode(), algorithm="RS256", issuer=issuer, audience=audience)
    if issuer or audience:
        raise SecurityConfigError("a JWT issuer or audience is set but no JWT secret or public key")
    return None
