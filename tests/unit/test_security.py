"""Credentials, the scope table and the rate limiter, without a server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from masterdata.server.security.api_keys import ApiKeyStore, hash_key
from masterdata.server.security.identity import ADMIN, READ, WRITE
from masterdata.server.security.jwt_tokens import JwtVerifier
from masterdata.server.security.rate_limit import RateLimiter
from masterdata.server.security.scopes import build_table, extra_scope
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
