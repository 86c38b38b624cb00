"""Credentials, the scope table and the rate limiter, without a server."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from security_support import issue, make_ca, write_identities

from masterdata.server.config import Settings
from masterdata.server.domain.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from masterdata.server.security.api_keys import ApiKeyStore, hash_key
from masterdata.server.security.certificates import CertificateIdentities, certificate_identity
from masterdata.server.security.errors import SecurityConfigError
from masterdata.server.security.gatekeeper import Gatekeeper
from masterdata.server.security.identity import ADMIN, READ, WRITE, Principal
from masterdata.server.security.jwt_tokens import JwtVerifier
from masterdata.server.security.rate_limit import RateLimiter
from masterdata.server.security.scopes import build_table, extra_scope
from masterdata.server.security.setup import build_security, is_loopback
from masterdata.v1 import (
    commodity_pb2,
    events_pb2,
    location_pb2,
    organization_pb2,
    trade_terms_pb2,
)

CONTRACT = [
    m.DESCRIPTOR
    for m in (location_pb2, organization_pb2, commodity_pb2, trade_terms_pb2, events_pb2)
]


def test_api_keys_match_by_hash_only(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps(
            [
                {"name": "erp", "sha256": hash_key("s3cret"), "scopes": ["masterdata.read"]},
                {
                    "name": "ops",
                    "sha256": hash_key("other"),
                    "scopes": "masterdata.read masterdata.write",
                },
            ]
        )
    )
    store = ApiKeyStore.load(path)
    principal = store.verify("s3cret")
    assert principal is not None and principal.name == "erp"
    assert principal.scopes == {READ}
    assert store.verify("other").scopes == {READ, WRITE}  # type: ignore[union-attr]
    assert store.verify("s3cret ") is None and store.verify("") is None
    assert "s3cret" not in path.read_text()


def test_api_key_file_must_hold_hashes(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"name": "x", "sha256": "abcd", "scopes": []}]))
    with pytest.raises(ValueError, match="sha256"):
        ApiKeyStore.load(path)


def _token(key: object, algorithm: str, **claims: object) -> str:
    body = {"sub": "alice", "exp": int(time.time()) + 60, "scope": "masterdata.read"} | claims
    return jwt.encode(body, key, algorithm=algorithm)  # type: ignore[arg-type]


def test_hs256_tokens() -> None:
    verifier = JwtVerifier(key="k" * 32, algorithm="HS256", issuer="idp", audience="masterdata")
    good = _token("k" * 32, "HS256", iss="idp", aud="masterdata")
    assert verifier.verify(good) == verifier.verify(good)
    principal = verifier.verify(good)
    assert principal is not None and principal.name == "alice" and principal.scopes == {READ}
    assert verifier.verify(_token("x" * 32, "HS256", iss="idp", aud="masterdata")) is None
    assert verifier.verify(_token("k" * 32, "HS256", iss="idp", aud="other")) is None
    assert verifier.verify(_token("k" * 32, "HS256", iss="evil", aud="masterdata")) is None
    expired = _token("k" * 32, "HS256", iss="idp", aud="masterdata", exp=int(time.time()) - 300)
    assert verifier.verify(expired) is None
    early = _token("k" * 32, "HS256", iss="idp", aud="masterdata", nbf=int(time.time()) + 300)
    assert verifier.verify(early) is None
    assert verifier.verify("not.a.jwt") is None


def test_rs256_tokens_and_algorithm_confusion() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    verifier = JwtVerifier(key=public_pem, algorithm="RS256")
    assert verifier.verify(_token(private, "RS256", scope=["masterdata.write"])).scopes == {WRITE}  # type: ignore[union-attr]
    # an HS256 token "signed" with the public key must not pass
    with pytest.raises(jwt.PyJWTError):
        jwt.encode({"sub": "mallory"}, public_pem, algorithm="HS256")


def test_every_rpc_has_a_scope() -> None:
    table = build_table(CONTRACT)
    rpcs = {
        f"/{s.full_name}/{m.name}"
        for f in CONTRACT
        for s in f.services_by_name.values()
        for m in s.methods
    }
    assert set(table) == rpcs
    assert table["/masterdata.v1.CommodityService/ListUnits"] == READ
    assert table["/masterdata.v1.CommodityService/ConvertQuantity"] == READ
    assert table["/masterdata.v1.CommodityService/GetImportTemplate"] == READ
    assert table["/masterdata.v1.EventService/SubscribeEvents"] == READ
    assert table["/masterdata.v1.OrganizationService/NextDocumentNumber"] == WRITE
    assert table["/masterdata.v1.CommodityService/UploadCommodities"] == WRITE
    assert extra_scope(organization_pb2.DeleteOrganizationRequest(force=True)) == ADMIN
    assert extra_scope(organization_pb2.DeleteOrganizationRequest()) is None


def test_rate_limiter_bucket() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=3.0, clock=lambda: now[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(0.5)
    assert limiter.acquire("b") == 0.0  # buckets are per identity
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    now[0] += 100
    assert limiter.acquire("c") == 0.0
    assert "a" not in limiter._buckets  # idle buckets are swept


# ---- settings turned into security, refused when they cannot work -------------


def _settings(**overrides: object) -> Settings:
    return Settings.load(environ={}, **overrides)


@pytest.mark.parametrize(
    ("listen", "loopback"),
    [
        ("127.0.0.1:50051", True),
        ("127.0.0.2:0", True),
        ("localhost:50051", True),
        ("[::1]:50051", True),
        ("unix:/tmp/masterdata.sock", True),
        ("0.0.0.0:50051", False),
        ("[::]:50051", False),
        (":50051", False),
        ("10.1.2.3:50051", False),
        ("example.com:50051", False),
    ],
)
def test_loopback_addresses(listen: str, loopback: bool) -> None:
    assert is_loopback(listen) is loopback


def test_a_public_address_needs_auth_or_insecure(tmp_path: Path) -> None:
    with pytest.raises(SecurityConfigError, match="--insecure"):
        build_security(_settings(listen="0.0.0.0:0"), CONTRACT)
    assert not build_security(
        _settings(listen="0.0.0.0:0", insecure=True), CONTRACT
    ).gate.authenticates
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"name": "a", "sha256": hash_key("k"), "scopes": [READ]}]))
    gate = build_security(_settings(listen="0.0.0.0:0", api_keys_file=str(keys)), CONTRACT).gate
    assert gate.authenticates
    assert build_security(_settings(listen="[::]:0", jwt_secret="s" * 32), CONTRACT).gate.jwt


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"jwt_secret": "short"}, "at least 32 bytes"),
        ({"jwt_secret": "s" * 32, "jwt_public_key_file": "/x.pem"}, "either"),
        ({"jwt_audience": "masterdata"}, "no JWT secret"),
        ({"jwt_public_key_file": "/nonexistent/key.pem"}, "cannot read"),
        ({"api_keys_file": "/nonexistent/keys.json"}, "cannot read"),
        ({"tls_cert_file": "/x.crt"}, "both a certificate and its private key"),
        ({"tls_client_ca_file": "/ca.crt"}, "needs a server certificate"),
        ({"rate_limit_per_s": -1.0}, "rate limit"),
    ],
)
def test_unusable_settings_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(SecurityConfigError, match=message):
        build_security(_settings(**overrides), CONTRACT)


def test_malformed_key_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    for content in ("{not json", '{"name": "x"}', '[{"name": "x"}]'):
        bad.write_text(content)
        with pytest.raises(SecurityConfigError, match=r"bad\.json"):
            build_security(_settings(api_keys_file=str(bad)), CONTRACT)
    with pytest.raises(SecurityConfigError, match="not a PEM public key"):
        build_security(_settings(jwt_public_key_file=str(bad)), CONTRACT)


def test_rs256_public_key_file(tmp_path: Path) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = tmp_path / "jwt.pem"
    pem.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    gate = build_security(_settings(jwt_public_key_file=str(pem)), CONTRACT).gate
    principal = gate.authenticate([("authorization", f"Bearer {_token(private, 'RS256')}")])
    assert principal.name == "alice" and principal.scopes == {READ}
    with pytest.raises(Unauthenticated):
        gate.authenticate([("authorization", f"Bearer {_token('k' * 32, 'HS256')}")])


def test_tls_files_are_checked(tmp_path: Path) -> None:
    ca = make_ca("test CA")
    cert, key = issue(ca, "server", server=True).write(tmp_path, "server")
    _other_cert, other_key = issue(ca, "other", server=True).write(tmp_path, "other")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.cert)
    tls = {"tls_cert_file": str(cert), "tls_key_file": str(key)}
    assert build_security(_settings(**tls), CONTRACT).credentials is not None
    identities = write_identities(tmp_path / "ids.json", {"erp": [READ]})
    mutual = tls | {"tls_client_ca_file": str(ca_file)}
    assert build_security(
        _settings(**mutual, tls_client_identities_file=str(identities)), CONTRACT
    ).credentials
    with pytest.raises(SecurityConfigError, match="not the key of the certificate"):
        build_security(_settings(**(tls | {"tls_key_file": str(other_key)})), CONTRACT)
    with pytest.raises(SecurityConfigError, match="not a PEM certificate"):
        build_security(_settings(**(tls | {"tls_cert_file": str(key)})), CONTRACT)
    with pytest.raises(SecurityConfigError, match="private key"):
        build_security(_settings(**(tls | {"tls_key_file": str(cert)})), CONTRACT)


def test_gatekeeper_caps_streams_per_identity() -> None:
    gate = Gatekeeper(scopes={}, max_streams_per_identity=2)
    alice, bob = Principal("alice", frozenset()), Principal("bob", frozenset())
    gate.open_stream(alice)
    gate.open_stream(alice)
    gate.open_stream(bob)
    with pytest.raises(ResourceExhausted):
        gate.open_stream(alice)
    gate.close_stream(alice)
    gate.open_stream(alice)


def test_unknown_methods_need_admin() -> None:
    gate = Gatekeeper(scopes={"/masterdata.v1.X/GetX": READ})
    reader = Principal("r", frozenset({READ}))
    gate.authorize(reader, "/masterdata.v1.X/GetX", None)
    with pytest.raises(PermissionDenied):
        gate.authorize(reader, "/masterdata.v1.X/Unlisted", None)


def test_bearer_scheme_is_case_insensitive_and_needs_a_token(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps([{"name": "a", "sha256": hash_key("k-1"), "scopes": [READ]}]))
    gate = Gatekeeper(scopes={}, api_keys=ApiKeyStore.load(path))
    for value in ("Bearer k-1", "bearer k-1", "BEARER   k-1 "):
        assert gate.authenticate([("authorization", value)]).name == "a"
    for value in ("Bearer", "Bearer ", "Basic k-1", "k-1", "Bearerk-1"):
        with pytest.raises(Unauthenticated):
            gate.authenticate([("authorization", value)])
    with pytest.raises(Unauthenticated):
        gate.authenticate([])


# ---- identities of client certificates ----------------------------------------


def _mtls(tmp_path: Path) -> dict[str, str]:
    ca = make_ca("mTLS test CA")
    cert, key = issue(ca, "server", server=True).write(tmp_path, "server")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.cert)
    return {
        "tls_cert_file": str(cert),
        "tls_key_file": str(key),
        "tls_client_ca_file": str(ca_file),
    }


def test_a_certificate_is_named_by_uri_then_dns_then_cn() -> None:
    ca = make_ca("naming CA")
    both = issue(ca, "cn-1", server=False, dns=["a.example"], uris=["spiffe://x/erp", "urn:2"])
    assert certificate_identity(both._cert) == "spiffe://x/erp"
    dns = issue(ca, "cn-2", server=False, dns=["b.example", "c.example"])
    assert certificate_identity(dns._cert) == "b.example"
    assert certificate_identity(issue(ca, "cn-3", server=False)._cert) == "cn-3"


def test_certificates_get_the_scopes_of_their_identity(tmp_path: Path) -> None:
    ca = make_ca("scopes CA")
    path = write_identities(tmp_path / "ids.json", {"clerk": [READ, WRITE], "viewer": [READ]})
    gate = Gatekeeper(scopes={}, certificates=CertificateIdentities.load(path))
    assert gate.authenticates

    def peer(name: str) -> dict[str, list[bytes]]:
        return {"x509_pem_cert": [issue(ca, name, server=False).cert]}

    assert gate.authenticate([], lambda: peer("clerk")) == Principal(
        "clerk", frozenset({READ, WRITE})
    )
    assert gate.authenticate([], lambda: peer("viewer")).scopes == {READ}
    stranger = gate.authenticate([], lambda: peer("stranger"))
    assert stranger == Principal("stranger", frozenset())
    with pytest.raises(PermissionDenied):
        gate.authorize(stranger, "/masterdata.v1.X/ListX", None)
    # No certificate in the auth context (not mTLS): nobody.
    with pytest.raises(Unauthenticated):
        gate.authenticate([], dict)
    with pytest.raises(Unauthenticated):
        gate.authenticate([])


def test_a_certificate_is_parsed_once(tmp_path: Path) -> None:
    path = write_identities(tmp_path / "ids.json", {"clerk": [READ]})
    identities = CertificateIdentities.load(path)
    pem = issue(make_ca("cache CA"), "clerk", server=False).cert
    for _ in range(3):
        assert identities.principal({"x509_pem_cert": [pem]}).name == "clerk"  # type: ignore[union-attr]
    info = identities._principal_of_pem.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_a_bearer_token_wins_over_a_certificate(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"name": "erp-key", "sha256": hash_key("k-1"), "scopes": [READ]}]))
    ids = write_identities(tmp_path / "ids.json", {"clerk": [WRITE]})
    gate = Gatekeeper(
        scopes={}, api_keys=ApiKeyStore.load(keys), certificates=CertificateIdentities.load(ids)
    )
    cert = issue(make_ca("both CA"), "clerk", server=False).cert
    context = {"x509_pem_cert": [cert]}
    assert gate.authenticate([("authorization", "Bearer k-1")], lambda: context).name == "erp-key"
    assert gate.authenticate([], lambda: context).name == "clerk"
    with pytest.raises(Unauthenticated):  # a bad token is not replaced by the certificate
        gate.authenticate([("authorization", "Bearer wrong")], lambda: context)
    # Without token checking configured, the header is not looked at.
    only_certs = Gatekeeper(scopes={}, certificates=CertificateIdentities.load(ids))
    assert only_certs.authenticate([("authorization", "Bearer k-1")], lambda: context).name == (
        "clerk"
    )


def test_mtls_needs_an_identity_file_unless_tokens_identify_callers(tmp_path: Path) -> None:
    mtls = _mtls(tmp_path)
    with pytest.raises(SecurityConfigError, match="needs --tls-client-identities"):
        build_security(_settings(**mtls), CONTRACT)
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"name": "a", "sha256": hash_key("k"), "scopes": [READ]}]))
    gate = build_security(_settings(**mtls, api_keys_file=str(keys)), CONTRACT).gate
    assert gate.certificates is None and gate.bearer_tokens
    assert build_security(_settings(**mtls, jwt_secret="s" * 32), CONTRACT).gate.jwt
    ids = write_identities(tmp_path / "ids.json", {"erp": [READ]})
    secured = build_security(
        _settings(**mtls, listen="0.0.0.0:0", tls_client_identities_file=str(ids)), CONTRACT
    )
    assert secured.gate.certificates is not None and not secured.gate.bearer_tokens
    with pytest.raises(SecurityConfigError, match="needs --tls-client-ca"):
        build_security(_settings(tls_client_identities_file=str(ids)), CONTRACT)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "ids.json: not a JSON list"),
        ('{"name": "x"}', "expected a JSON list"),
        ('[{"name": "x"}]', "entry 1: needs exactly the keys name and scopes"),
        ('[{"name": "", "scopes": []}]', "entry 1: name must be 1-200 characters"),
        (json.dumps([{"name": "x" * 201, "scopes": []}]), "name must be 1-200"),
        ('[{"name": "x", "scopes": 3}]', "scopes must be a list"),
        ('[{"name": "x", "scopes": ["masterdata.raed"]}]', "unknown scope masterdata.raed"),
        (
            '[{"name": "x", "scopes": []}, {"name": "x", "scopes": []}]',
            "entry 2: 'x' is listed twice",
        ),
    ],
)
def test_malformed_identity_files_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "ids.json"
    path.write_text(content)
    mtls = _mtls(tmp_path)
    with pytest.raises(SecurityConfigError, match=re.escape(message)):
        build_security(_settings(**mtls, tls_client_identities_file=str(path)), CONTRACT)
    with pytest.raises(SecurityConfigError, match="cannot read the client identity file"):
        build_security(
            _settings(**mtls, tls_client_identities_file=str(tmp_path / "none.json")), CONTRACT
        )
