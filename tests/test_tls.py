"""TLS and mutual TLS round trips with throwaway certificates made here.

The transport does not depend on the database, so these servers run on SQLite only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc import aio
from security_support import Pem, issue, make_ca, serving

from masterdata.server.app import App
from masterdata.v1 import location_pb2, location_pb2_grpc


@dataclass(frozen=True)
class Pki:
    ca: Pem
    server: Pem
    client: Pem
    stranger: Pem  # a client certificate from a CA the server does not trust
    folder: Path

    def settings(self, *, mutual: bool) -> dict[str, str]:
        cert, key = self.server.write(self.folder, "server")
        ca_file = self.folder / "ca.crt"
        ca_file.write_bytes(self.ca.cert)
        tls = {"tls_cert_file": str(cert), "tls_key_file": str(key)}
        return tls | ({"tls_client_ca_file": str(ca_file)} if mutual else {})


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ca = make_ca("masterdata test CA")
    other = make_ca("somebody else's CA")
    return Pki(
        ca,
        issue(ca, "masterdata", server=True),
        issue(ca, "erp-client", server=False),
        issue(other, "erp-client", server=False),
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
    with_cert = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.cert,
        private_key=pki.client.key,
        certificate_chain=pki.client.cert,
    )
    assert (await round_trip(mtls_app.port, with_cert)).name == "TLS"
    without_cert = grpc.ssl_channel_credentials(root_certificates=pki.ca.cert)
    assert await refused(mtls_app.port, without_cert) == grpc.StatusCode.UNAVAILABLE
    stranger = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.cert,
        private_key=pki.stranger.key,
        certificate_chain=pki.stranger.cert,
    )
    assert await refused(mtls_app.port, stranger) == grpc.StatusCode.UNAVAILABLE
    assert await refused(mtls_app.port, None) == grpc.StatusCode.UNAVAILABLE
