"""Helpers of the security and operations tests: servers with settings, keys, tokens, certs."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from support import make_settings

from masterdata.server.app import App, build
from masterdata.server.security.api_keys import hash_key
from masterdata.server.storage import migrate
from masterdata.server.storage.engine import Database

#: Small pools: these servers run next to the suite's own on one PostgreSQL.
SMALL_POOL = {"pool_size": 3, "max_overflow": 2, "read_pool_size": 2}


@contextlib.asynccontextmanager
async def serving(database_url: str, **overrides: Any) -> AsyncIterator[App]:
    """A started in-process server on a migrated database, with these settings."""
    settings = make_settings(database_url, **(SMALL_POOL | overrides))
    db = Database.connect(settings)
    try:
        await migrate.upgrade(db.writer)
        app = build(settings, db)
    except BaseException:
        await db.dispose()
        raise
    await app.start()
    try:
        yield app
    finally:
        await app.stop(0)


def write_api_keys(path: Path, keys: Mapping[str, tuple[str, Sequence[str]]]) -> Path:
    """An API key file: {name: (key, scopes)}; only the hashes are written."""
    entries = [
        {"name": name, "sha256": hash_key(key), "scopes": list(scopes)}
        for name, (key, scopes) in keys.items()
    ]
    path.write_text(json.dumps(entries))
    return path


def hs256_token(secret: str, **claims: Any) -> str:
    """A JWT valid for a minute unless `claims` say otherwise."""
    body = {"sub": "alice", "exp": int(time.time()) + 60} | claims
    return jwt.encode(body, secret, algorithm="HS256")


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


# ---- throwaway certificates --------------------------------------------------


@dataclass(frozen=True)
class Pem:
    """A certificate and its key, PEM-encoded, plus the issuer used to sign more."""

    cert: bytes
    key: bytes
    _cert: x509.Certificate
    _key: ec.EllipticCurvePrivateKey

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_bytes(self.cert)
        key.write_bytes(self.key)
        return cert, key


def _pem(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Pem:
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        cert,
        key,
    )


def _builder(subject: str, issuer: x509.Name, public: Any) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


def make_ca(name: str) -> Pem:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        _builder(name, subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return _pem(cert, key)


def issue(
    ca: Pem, name: str, *, server: bool, uris: Sequence[str] = (), dns: Sequence[str] = ()
) -> Pem:
    """A leaf certificate signed by `ca` with subject CN `name`: for 127.0.0.1/localhost,
    or a client's, with these URI and DNS subject alternative names (none by default)."""
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = _builder(name, ca._cert.subject, key.public_key()).add_extension(
        x509.ExtendedKeyUsage([usage]), critical=False
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.UniformResourceIdentifier(u) for u in uris]
    if server:
        names += [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return _pem(builder.sign(ca._key, hashes.SHA256()), key)


def write_identities(path: Path, identities: Mapping[str, Sequence[str]]) -> Path:
    """A client identity file (--tls-client-identities): {identity: scopes}."""
    entries = [{"name": name, "scopes": list(scopes)} for name, scopes in identities.items()]
    path.write_text(json.dumps(entries))
    return path
