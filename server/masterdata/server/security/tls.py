"""TLS and mutual TLS server credentials from PEM files, checked before the server binds."""

from __future__ import annotations

from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from masterdata.server.security.errors import SecurityConfigError


def read_pem(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise SecurityConfigError(f"cannot read the {what} {path}: {error.strerror}") from error


def _certificates(data: bytes, path: str, what: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as error:
        raise SecurityConfigError(f"{path} is not a PEM {what}") from error


def server_credentials(
    cert_file: str, key_file: str, client_ca_file: str = ""
) -> grpc.ServerCredentials | None:
    """None without a certificate; with a client CA, clients must present a certificate.

    grpc reports a bad certificate or key only at the first handshake, so they are
    loaded here first: a mistake stops the start-up instead of every connection.
    """
    if not cert_file and not key_file:
        if client_ca_file:
            raise SecurityConfigError("a client CA (mTLS) needs a server certificate and key")
        return None
    if not cert_file or not key_file:
        raise SecurityConfigError("TLS needs both a certificate and its private key")
    chain = read_pem(cert_file, "TLS certificate")
    key = read_pem(key_file, "TLS private key")
    leaf = _certificates(chain, cert_file, "certificate")[0]
    try:
        private = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError) as error:
        raise SecurityConfigError(f"{key_file} is not an unencrypted PEM private key") from error
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.PEM
    if private.public_key().public_bytes(encoding, public) != leaf.public_key().public_bytes(
        encoding, public
    ):
        raise SecurityConfigError(f"{key_file} is not the key of the certificate {cert_file}")
    client_ca = None
    if client_ca_file:
        client_ca = read_pem(client_ca_file, "client CA")
        _certificates(client_ca, client_ca_file, "CA certificate")
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )
