"""TLS and mutual TLS round trips with throwaway certificates made here.

The transport does not depend on the database, so its servers run on SQLite only;
the identities of client certificates end up in the data (created_by, the event
actor), so those servers run on both backends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc import aio
from security_support import (
    Pem,
    bearer,
    issue,
    make_ca,
    serving,
    write_api_keys,
    write_identities,
)
from support import expect_failure

from masterdata.server.app import App
from masterdata.server.security.identity import READ, WRITE
from masterdata.v1 import events_pb2, events_pb2_grpc, location_pb2, location_pb2_grpc

#: Identities of the client certificates below, as the identity file names them.
URI_ID = "spiffe://masterdata.test/erp"
DNS_ID = "pricing.masterdata.test"
CN_ID = "warehouse-clerk"
READER_ID = "auditor"
IDENTITIES = {
    "erp-client": [READ, WRITE],
    URI_ID: [READ, WRITE],
    DNS_ID: [READ, WRITE],
    CN_ID: [READ, WRITE],
    READER_ID: [READ],
    # The CNs of the URI and DNS certificates: listed to prove the SAN wins over the CN.
    "erp-uri-cn": [READ],
    "pricing-dns-cn": [READ],
}
DENIED = grpc.StatusCode.PERMISSION_DENIED


@dataclass(frozen=True)
class Pki:
    ca: Pem
    server: Pem
    client: Pem
    stranger: Pem  # a client certificate from a CA the server does not trust
    with_uri: Pem  # URI and DNS SANs (DNS written first) and a CN: the URI names it
    with_dns: Pem  # a DNS SAN and a CN: the DNS name names it
    with_cn: Pem  # a CN only
    reader: Pem  # a CN with read scope only
    unknown: Pem  # signed by the trusted CA, but not in the identity file
    folder: Path

    def settings(self, *, mutual: bool) -> dict[str, str]:
        cert, key = self.server.write(self.folder, "server")
        ca_file = self.folder / "ca.crt"
        ca_file.write_bytes(self.ca.cert)
        tls = {"tls_cert_file": str(cert), "tls_key_file": str(key)}
        if not mutual:
            return tls
        identities = write_identities(self.folder / "identities.json", IDENTITIES)
        return tls | {
            "tls_client_ca_file": str(ca_file),
            "tls_client_identities_file": str(identities),
        }

    def credentials(self, client: Pem) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.cert, private_key=client.key, certificate_chain=client.cert
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = make_ca("masterdata test CA")
    other = make_ca("somebody else's CA")
    return Pki(
        ca,
        issue(ca, "masterdata", server=True),
        issue(ca, "erp-client", server=False),
        issue(other, "erp-client", server=False),
        issue(ca, "erp-uri-cn", server=False, dns=["erp.masterdata.test"], uris=[URI_ID]),
        issue(ca, "pricing-dns-cn", server=False, dns=[DNS_ID, "other.masterdata.test"]),
        issue(ca, CN_ID, server=False),
        issue(ca, READER_ID, server=False),
        issue(ca, "intruder", server=False),
        tmp_path_factory.mktemp("pki"),
    )


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('tls') / 'masterdata.db'}"


@pytest.fixture(scope="module")
async def tls_app(pki: Pki, sqlite_url: str) -> AsyncIterator[App]:
    async with serving(sqlite_url, **pki.settings(mutual=False)) as app:
        yield app


@pytest.fixture(scope="module")
async def mtls_app(pki: Pki, sqlite_url: str) -> AsyncIterator[App]:
    async with serving(sqlite_url, **pki.settings(mutual=True)) as app:
        yield app


async def round_trip(port: int, credentials: grpc.ChannelCredentials) -> location_pb2.Location:
    async with aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        request = location_pb2.CreateLocationRequest(location=location_pb2.Location(name="TLS"))
        created = (await stub.CreateLocation(request, timeout=10)).location
        got = await stub.GetLocation(location_pb2.GetLocationRequest(id=created.id), timeout=10)
        return got.location


async def refused(port: int, credentials: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    channel = (
        aio.insecure_channel(f"127.0.0.1:{port}")
        if credentials is None
        else aio.secure_channel(f"127.0.0.1:{port}", credentials)
    )
    async with channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        with pytest.raises(aio.AioRpcError) as raised:
            await stub.ListLocations(location_pb2.ListLocationsRequest(), timeout=5)
        return raised.value.code()


async def test_tls_round_trip(tls_app: App, pki: Pki) -> None:
    trusted = grpc.ssl_channel_credentials(root_certificates=pki.ca.cert)
    assert (await round_trip(tls_app.port, trusted)).name == "TLS"
    # plaintext and clients that do not trust the server's CA get nowhere
    assert await refused(tls_app.port, None) == grpc.StatusCode.UNAVAILABLE
    other_ca = make_ca("unrelated CA")
    untrusting = grpc.ssl_channel_credentials(root_certificates=other_ca.cert)
    assert await refused(tls_app.port, untrusting) == grpc.StatusCode.UNAVAILABLE


async def test_mtls_round_trip_and_refusals(mtls_app: App, pki: Pki) -> None:
    located = await round_trip(mtls_app.port, pki.credentials(pki.client))
    assert (located.name, located.created_by) == ("TLS", "erp-client")
    without_cert = grpc.ssl_channel_credentials(root_certificates=pki.ca.cert)
    assert await refused(mtls_app.port, without_cert) == grpc.StatusCode.UNAVAILABLE
    assert await refused(mtls_app.port, pki.credentials(pki.stranger)) == (
        grpc.StatusCode.UNAVAILABLE
    )
    assert await refused(mtls_app.port, None) == grpc.StatusCode.UNAVAILABLE


# ---- identities of client certificates, in the data of both backends ----------


@pytest.fixture(scope="module")
async def identity_app(pki: Pki, database_url: str) -> AsyncIterator[App]:
    async with serving(database_url, **pki.settings(mutual=True)) as app:
        yield app


@pytest.fixture(scope="module")
async def keys_and_certs_app(pki: Pki, database_url: str) -> AsyncIterator[App]:
    keys = write_api_keys(pki.folder / "keys.json", {"erp-key": ("key-1", [READ, WRITE])})
    async with serving(database_url, **pki.settings(mutual=True), api_keys_file=str(keys)) as app:
        yield app


async def create_and_audit(
    port: int, credentials: grpc.ChannelCredentials, metadata: tuple[tuple[str, str], ...] = ()
) -> tuple[str, str, list[str]]:
    """Create a location as this client; its created_by, updated_by and event actors."""
    async with aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        request = location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Depot"))
        created = (await stub.CreateLocation(request, metadata=metadata, timeout=10)).location
        feed = events_pb2_grpc.EventServiceStub(channel)
        listed = await feed.ListEvents(
            events_pb2.ListEventsRequest(aggregate_id=created.id), metadata=metadata, timeout=10
        )
        return created.created_by, created.updated_by, [e.actor for e in listed.events]


@pytest.mark.parametrize(
    ("client", "identity"),
    [("with_uri", URI_ID), ("with_dns", DNS_ID), ("with_cn", CN_ID)],
)
async def test_a_certificate_identity_is_created_by_and_event_actor(
    identity_app: App, pki: Pki, client: str, identity: str
) -> None:
    credentials = pki.credentials(getattr(pki, client))
    assert await create_and_audit(identity_app.port, credentials) == (
        identity,
        identity,
        [identity],
    )


async def test_scopes_come_from_the_identity_file(identity_app: App, pki: Pki) -> None:
    target = f"127.0.0.1:{identity_app.port}"
    request = location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Denied"))
    async with aio.secure_channel(target, pki.credentials(pki.reader)) as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        await stub.ListLocations(location_pb2.ListLocationsRequest(), timeout=10)
        denied = await expect_failure(stub.CreateLocation(request, timeout=10), DENIED)
        assert denied.reason == "MISSING_SCOPE"
    async with aio.secure_channel(target, pki.credentials(pki.unknown)) as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        listing = stub.ListLocations(location_pb2.ListLocationsRequest(), timeout=10)
        assert (await expect_failure(listing, DENIED)).reason == "MISSING_SCOPE"
        await expect_failure(stub.CreateLocation(request, timeout=10), DENIED)
        # A bearer token means nothing to a server that checks no tokens.
        listing = stub.ListLocations(
            location_pb2.ListLocationsRequest(), metadata=bearer("key-1"), timeout=10
        )
        await expect_failure(listing, DENIED)


async def test_a_bearer_token_wins_over_the_certificate(keys_and_certs_app: App, pki: Pki) -> None:
    port, credentials = keys_and_certs_app.port, pki.credentials(pki.with_cn)
    assert (await create_and_audit(port, credentials))[0] == CN_ID
    assert (await create_and_audit(port, credentials, bearer("key-1")))[2] == ["erp-key"]
    # A bad token is refused, not replaced by the certificate's identity.
    async with aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        stub = location_pb2_grpc.LocationServiceStub(channel)
        listing = stub.ListLocations(
            location_pb2.ListLocationsRequest(), metadata=bearer("wrong"), timeout=10
        )
        await expect_failure(listing, grpc.StatusCode.UNAUTHENTICATED)
