"""The SDK's surface and connection settings: exports, RPC coverage, retry table, auth, mTLS."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from security_support import issue, make_ca, serving, write_api_keys, write_identities

import masterdata.client
from masterdata.client import (
    Client,
    PermissionDeniedError,
    SyncClient,
    UnauthenticatedError,
)
from masterdata.client.config import ConnectionConfig
from masterdata.client.methods import CallKind, method_table
from masterdata.server.security.identity import READ, WRITE
from masterdata.v1 import (
    commodity_pb2,
    events_pb2,
    location_pb2,
    organization_pb2,
    trade_terms_pb2,
)

SERVICES = {
    "locations": location_pb2,
    "organizations": organization_pb2,
    "commodities": commodity_pb2,
    "trade_terms": trade_terms_pb2,
    "events": events_pb2,
}


def test_exports_are_pinned() -> None:
    assert set(masterdata.client.__all__) == {
        "AbortedError", "AlreadyExistsError", "Client", "ConnectionConfig",
        "DeadlineExceededError", "ExportProgress", "FailedPreconditionError", "FeedCursor",
        "FieldViolation", "ImportProgress", "ImportResult", "InvalidArgumentError",
        "MasterdataError", "Mirror", "NotFoundError", "PermissionDeniedError",
        "ResourceExhaustedError", "RetryPolicy", "SyncClient", "Timeouts",
        "UnauthenticatedError", "UnavailableError",
    }  # fmt: skip


async def test_every_rpc_is_a_typed_attribute_of_both_clients() -> None:
    sync = SyncClient("127.0.0.1:1")
    async with Client("127.0.0.1:1") as client:
        for attribute, module in SERVICES.items():
            [service] = module.DESCRIPTOR.services_by_name.values()
            for method in service.methods:
                assert callable(getattr(getattr(client, attribute), method.name))
                assert callable(getattr(getattr(sync, attribute), method.name))
                assert f"/{service.full_name}/{method.name}" in method_table()
    sync.close()


def test_retry_and_deadline_classes_follow_the_descriptors() -> None:
    table = {path.rsplit("/", 1)[1]: info for path, info in method_table().items()}
    retryable = {name for name, info in table.items() if info.retryable}
    assert {"CreateCommodity", "NextDocumentNumber", "ImportCommodities"} <= retryable
    assert {"GetLocation", "ListEvents", "BatchGetCommodities", "ConvertQuantity"} <= retryable
    # Every unary write takes a request_id the client fills in: all of them retry.
    assert {"UpdateLocation", "DeleteCommodity", "UndeleteOrganization"} <= retryable
    assert {"ActivateFinancialYear", "RollOverDocumentSeries"} <= retryable
    assert not {"SubscribeEvents", "UploadCommodities"} & retryable
    assert table["GetLocation"].kind is CallKind.READ
    assert table["UpdateLocation"].kind is CallKind.WRITE
    assert table["ExportCommodities"].kind is CallKind.STREAM
    assert table["SubscribeEvents"].kind is CallKind.FEED
    options = dict(ConnectionConfig().channel_options())
    config = json.loads(options["grpc.service_config"])
    [method_config] = config["methodConfig"]
    assert method_config["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert len(method_config["name"]) == len(retryable) and options["grpc.enable_retries"] == 1


async def test_token_is_sent_as_a_bearer(database_url: str, tmp_path: Path) -> None:
    keys = {"reader": ("reader-key", [READ]), "writer": ("writer-key", [READ, WRITE])}
    keys_file = write_api_keys(tmp_path / "keys.json", keys)
    request = location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Keyed"))
    async with serving(database_url, api_keys_file=str(keys_file)) as app:
        target = f"127.0.0.1:{app.port}"
        async with Client(target, token="writer-key") as writer:
            created = (await writer.locations.CreateLocation(request)).location
            assert created.created_by == "writer"
        async with Client(target, token="reader-key") as reader:
            with pytest.raises(PermissionDeniedError) as denied:
                await reader.locations.CreateLocation(request)
            assert denied.value.reason == "MISSING_SCOPE"
        async with Client(target) as anonymous:
            with pytest.raises(UnauthenticatedError):
                await anonymous.locations.ListLocations(location_pb2.ListLocationsRequest())


async def test_tls_with_a_ca_file_and_client_certificate(tmp_path: Path) -> None:
    ca = make_ca("client test CA")
    server_cert, server_key = issue(ca, "masterdata", server=True).write(tmp_path, "server")
    client_cert, client_key = issue(ca, "erp", server=False).write(tmp_path, "client")
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.cert)
    settings = {
        "tls_cert_file": str(server_cert),
        "tls_key_file": str(server_key),
        "tls_client_ca_file": str(ca_file),
        "tls_client_identities_file": str(write_identities(tmp_path / "ids.json", {"erp": [READ]})),
    }
    async with serving(f"sqlite+aiosqlite:///{tmp_path / 'tls.db'}", **settings) as app:
        target = f"127.0.0.1:{app.port}"
        async with Client(target, tls_ca=ca_file, tls_cert=client_cert, tls_key=client_key) as c:
            reply = await c.locations.ListLocations(location_pb2.ListLocationsRequest())
            assert list(reply.locations) == []
            assert (await c.health.Check(health_pb2.HealthCheckRequest())).status
        async with Client(target, tls_ca=ca_file) as no_cert:  # mTLS refuses it
            with pytest.raises(masterdata.client.MasterdataError) as refused:
                await no_cert.locations.ListLocations(location_pb2.ListLocationsRequest())
            assert refused.value.code == grpc.StatusCode.UNAVAILABLE
