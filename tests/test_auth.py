"""Authentication and scopes on a real server: API keys, JWTs, identity in the data."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from security_support import bearer, hs256_token, serving, write_api_keys
from support import events, expect_failure
from test_reflection import ask, v1_messages

from masterdata.server.api.reflection import V1_SERVICE_NAME
from masterdata.server.app import CONTRACT, SERVICE_NAMES, App
from masterdata.server.domain.organizations import mask_account_number
from masterdata.server.security.identity import ADMIN, READ, SENSITIVE, WRITE
from masterdata.server.security.scopes import OPEN_SERVICES
from masterdata.v1 import (
    events_pb2,
    events_pb2_grpc,
    location_pb2,
    location_pb2_grpc,
    organization_pb2_grpc,
)
from masterdata.v1 import organization_pb2 as pb

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
ISSUER, AUDIENCE = "https://idp.example", "masterdata"
KEYS = {
    "erp-reader": ("reader-key-1", [READ]),
    "erp-writer": ("writer-key-1", [READ, WRITE]),
    "ops-admin": ("admin-key-1", [READ, WRITE, ADMIN]),
    "auditor": ("auditor-key-1", [READ, SENSITIVE]),
}
READER, WRITER, ADMIN_KEY, AUDITOR = (bearer(KEYS[n][0]) for n in KEYS)
UNAUTHENTICATED, DENIED = grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED


def random_account_number() -> str:
    return "5010" + str(uuid.uuid4().int)[:10]


def token(**claims: object) -> str:
    return hs256_token(SECRET, **({"iss": ISSUER, "aud": AUDIENCE} | claims))


@pytest.fixture(scope="module")
async def auth_app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[App]:
    keys = write_api_keys(tmp_path_factory.mktemp("auth") / "keys.json", KEYS)
    async with serving(
        database_url,
        api_keys_file=str(keys),
        jwt_secret=SECRET,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
    ) as app:
        yield app


@pytest.fixture
async def channel(auth_app: App) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(f"127.0.0.1:{auth_app.port}") as channel:
        yield channel


@pytest.fixture
def orgs(channel: aio.Channel) -> organization_pb2_grpc.OrganizationServiceStub:
    return organization_pb2_grpc.OrganizationServiceStub(channel)


@pytest.fixture
def locations(channel: aio.Channel) -> location_pb2_grpc.LocationServiceStub:
    return location_pb2_grpc.LocationServiceStub(channel)


async def create_org(
    stub: organization_pb2_grpc.OrganizationServiceStub, metadata
) -> pb.Organization:
    request = pb.CreateOrganizationRequest(organization=pb.Organization(name=f"Org {uuid.uuid4()}"))
    return (await stub.CreateOrganization(request, metadata=metadata)).organization


async def create_account(stub, org_id: str, metadata, number: str = "") -> pb.BankAccount:
    account = pb.BankAccount(
        organization_id=org_id,
        account_holder="Shree Cotton Traders",
        bank_name="HDFC Bank",
        account_number=number or random_account_number(),
    )
    request = pb.CreateBankAccountRequest(bank_account=account)
    return (await stub.CreateBankAccount(request, metadata=metadata)).bank_account


async def test_missing_or_bad_credentials_are_unauthenticated_alike(locations) -> None:
    now = int(time.time())
    wrong = [
        None,
        bearer("not-a-key"),
        (("authorization", "Basic " + KEYS["erp-reader"][0]),),
        (("authorization", KEYS["erp-reader"][0]),),
        bearer(token(exp=now - 600)),  # expired (beyond the leeway)
        bearer(token(aud="another-service")),
        bearer(token(iss="https://evil.example")),
        bearer(token(nbf=now + 600)),
        bearer(hs256_token("x" * 40, iss=ISSUER, aud=AUDIENCE)),  # another secret
        bearer(token(sub="")),
        READER + WRITER,  # two credentials
    ]
    request = location_pb2.GetLocationRequest(id=str(uuid.uuid4()))
    messages = set()
    for metadata in wrong:
        failure = await expect_failure(
            locations.GetLocation(request, metadata=metadata), UNAUTHENTICATED
        )
        messages.add((failure.message, failure.reason))
    # one answer for every mistake: nothing tells an attacker what was wrong
    assert messages == {("missing or invalid credentials", "UNAUTHENTICATED")}


async def test_streams_need_credentials_too(channel) -> None:
    stub = events_pb2_grpc.EventServiceStub(channel)
    stream = stub.SubscribeEvents(events_pb2.SubscribeEventsRequest())
    with pytest.raises(aio.AioRpcError) as raised:
        await stream.read()
    assert raised.value.code() == UNAUTHENTICATED


async def test_valid_key_and_jwt_pass(locations) -> None:
    request = location_pb2.GetLocationRequest(id=str(uuid.uuid4()))
    for metadata in (READER, bearer(token(scope=READ)), bearer(token(scope=[READ]))):
        # NOT_FOUND: authenticated and authorized, the id just does not exist
        await expect_failure(
            locations.GetLocation(request, metadata=metadata), grpc.StatusCode.NOT_FOUND
        )


async def test_read_only_callers_cannot_write(locations, auth_app: App) -> None:
    name = f"Denied {uuid.uuid4()}"
    create = location_pb2.CreateLocationRequest(location=location_pb2.Location(name=name))
    for metadata in (READER, AUDITOR, bearer(token(scope=READ)), bearer(token())):
        failure = await expect_failure(locations.CreateLocation(create, metadata=metadata), DENIED)
        assert failure.reason == "MISSING_SCOPE" and failure.metadata == {"scopes": WRITE}
    listed = await locations.ListLocations(
        location_pb2.ListLocationsRequest(filter=f'name = "{name}"'), metadata=READER
    )
    assert not listed.locations


async def test_force_delete_needs_admin(orgs) -> None:
    org = await create_org(orgs, WRITER)
    await create_account(orgs, org.id, WRITER)  # a live child: only force deletes
    force = pb.DeleteOrganizationRequest(id=org.id, force=True)
    failure = await expect_failure(orgs.DeleteOrganization(force, metadata=WRITER), DENIED)
    assert failure.metadata == {"scopes": ADMIN}
    await expect_failure(
        orgs.DeleteOrganization(pb.DeleteOrganizationRequest(id=org.id), metadata=WRITER),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    deleted = await orgs.DeleteOrganization(force, metadata=ADMIN_KEY)
    assert deleted.organization.HasField("delete_time")
    assert deleted.organization.updated_by == "ops-admin"


async def test_sensitive_scope_unmasks_bank_account_numbers(orgs) -> None:
    org = await create_org(orgs, WRITER)
    number = random_account_number()
    created = await create_account(orgs, org.id, WRITER, number)
    masked = mask_account_number(number)
    assert masked != number and masked.endswith(number[-4:])
    assert created.account_number == masked
    get = pb.GetBankAccountRequest(id=created.id)
    listing = pb.ListBankAccountsRequest(organization_id=org.id)
    for metadata, expected in (
        (READER, masked),
        (WRITER, masked),
        (ADMIN_KEY, masked),
        (bearer(token(scope=READ)), masked),
        (AUDITOR, number),
        (bearer(token(scope=f"{READ} {SENSITIVE}")), number),
    ):
        got = await orgs.GetBankAccount(get, metadata=metadata)
        assert got.bank_account.account_number == expected, metadata
        listed = await orgs.ListBankAccounts(listing, metadata=metadata)
        assert [a.account_number for a in listed.bank_accounts] == [expected], metadata


async def test_identity_becomes_created_by_updated_by_and_event_actor(orgs, auth_app: App) -> None:
    org = await create_org(orgs, WRITER)
    assert org.created_by == org.updated_by == "erp-writer"
    alice = bearer(token(sub="alice@example.com", scope=f"{READ} {WRITE}"))
    update = pb.UpdateOrganizationRequest(
        organization=pb.Organization(id=org.id, legal_name="Shree Cotton Traders LLP")
    )
    updated = (await orgs.UpdateOrganization(update, metadata=alice)).organization
    assert (updated.created_by, updated.updated_by) == ("erp-writer", "alice@example.com")
    got = await orgs.GetOrganization(pb.GetOrganizationRequest(id=org.id), metadata=READER)
    assert got.organization.updated_by == "alice@example.com"
    rows = await events(auth_app.runtime.db, aggregate_id=uuid.UUID(org.id))
    assert [(e.event_type, e.actor) for e in rows] == [
        ("organization.created", "erp-writer"),
        ("organization.updated", "alice@example.com"),
    ]


async def test_health_and_reflection_are_open(channel) -> None:
    """Without credentials, on a server that requires them: health and both reflections."""
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status in (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name async for r in responses for s in r.list_services_response.service}
    # Every service served is either in the scope table or declared open.
    assert names == set(SERVICE_NAMES) | OPEN_SERVICES

    v1 = v1_messages()
    listed = await ask(
        channel,
        V1_SERVICE_NAME,
        v1["grpc.reflection.v1.ServerReflectionRequest"](list_services=""),
        v1["grpc.reflection.v1.ServerReflectionResponse"],
    )
    assert {s.name for s in listed.list_services_response.service} == names


def test_the_scope_table_covers_every_served_rpc(auth_app: App) -> None:
    served = {
        f"/{service.full_name}/{method.name}"
        for file in CONTRACT
        for service in file.services_by_name.values()
        for method in service.methods
    }
    assert {s.full_name for f in CONTRACT for s in f.services_by_name.values()} == set(
        SERVICE_NAMES
    )
    assert set(auth_app.gate.scopes) == served


def test_key_file_holds_no_keys(tmp_path: Path) -> None:
    path = write_api_keys(tmp_path / "keys.json", KEYS)
    assert not any(key in path.read_text() for key, _scopes in KEYS.values())
