"""Identities of mTLS clients: who a client certificate names, and the scopes it is given.

A certificate names its holder by its first URI subject alternative name (such as
a SPIFFE ID), else its first DNS name, else its subject common name. The identity
file (`--tls-client-identities`) lists the identities that may call and their
scopes; a certificate the client CA signed but the file does not list is known by
name and has no scope, so every call that needs one is PERMISSION_DENIED.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from masterdata.server.security.identity import (
    ALL_SCOPES,
    MAX_IDENTITY_CHARS,
    Principal,
    parse_scopes,
)

#: grpc's auth context key of the peer's certificate (PEM), with mutual TLS.
PEER_CERT_KEY = "x509_pem_cert"
#: Distinct certificates whose identities are remembered; a handful in practice.
CACHE_SIZE = 1024


def certificate_identity(cert: x509.Certificate) -> str:
    """The first URI SAN, else the first DNS SAN, else the subject CN, else ""."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        names = None
    if names is not None:
        for kind in (x509.UniformResourceIdentifier, x509.DNSName):
            values = names.get_values_for_type(kind)
            if values:
                return str(values[0])
    common = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = common[0].value if common else ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class CertificateIdentities:
    """Client certificate -> Principal, by the identity file; parsed once per certificate."""

    def __init__(self, scopes: Mapping[str, frozenset[str]]) -> None:
        self._scopes = dict(scopes)
        # Why a cache: a connection presents the same PEM on every call, and parsing
        # it costs ~50 us; bytes are hashed in C, so a hit costs well under 1 us.
        self._principal_of_pem = lru_cache(maxsize=CACHE_SIZE)(self._principal)

    @classmethod
    def load(cls, path: Path) -> CertificateIdentities:
        """Read a JSON list of {"name", "scopes"}; ValueError says what is wrong."""
        raw = json.loads(path.read_text())
        if not isinstance(raw, list):
            raise ValueError("expected a JSON list of {name, scopes} entries")
        scopes: dict[str, frozenset[str]] = {}
        for number, item in enumerate(raw, 1):
            name, granted = _entry(item, number)
            if name in scopes:
                raise ValueError(f"entry {number}: {name!r} is listed twice")
            scopes[name] = granted
        return cls(scopes)

    def principal(self, auth_context: Mapping[str, Any]) -> Principal | None:
        """The principal of the peer certificate in grpc's auth context; None without one."""
        pems = auth_context.get(PEER_CERT_KEY)
        if not pems:
            return None
        return self._principal_of_pem(bytes(pems[0]))

    def _principal(self, pem: bytes) -> Principal:
        name = certificate_identity(x509.load_pem_x509_certificate(pem))
        return Principal(name, self._scopes.get(name, frozenset()))


def _entry(item: object, number: int) -> tuple[str, frozenset[str]]:
    if not isinstance(item, dict) or set(item) != {"name", "scopes"}:
        raise ValueError(f"entry {number}: needs exactly the keys name and scopes")
    name, raw_scopes = item["name"], item["scopes"]
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_IDENTITY_CHARS:
        raise ValueError(f"entry {number}: name must be 1-{MAX_IDENTITY_CHARS} characters")
    if not isinstance(raw_scopes, str | list):
        raise ValueError(f"entry {number}: scopes must be a list or a space-separated string")
    scopes = parse_scopes(raw_scopes)
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown:
        raise ValueError(
            f"entry {number} ({name}): unknown scope {', '.join(unknown)}; "
            f"known: {', '.join(sorted(ALL_SCOPES))}"
        )
    return name, scopes
