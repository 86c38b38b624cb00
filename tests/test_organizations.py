"""Organizations through a real server: validation, uniqueness, listing, force delete."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf import struct_pb2
from grpc import aio
from organization_support import (
    OTHER_PAN,
    PAN,
    create_account,
    create_gst,
    create_org,
    create_series,
    create_year,
    gstin,
    mask,
)
from support import event_count, events, expect_failure

from masterdata.server.storage.engine import Database
from masterdata.v1 import organization_pb2 as pb
from masterdata.v1 import organization_pb2_grpc

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
PRECONDITION, EXISTS = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS


@pytest.fixture
def stub(channel: aio.Channel) -> organization_pb2_grpc.OrganizationServiceStub:
    return organization_pb2_grpc.OrganizationServiceStub(channel)


async def test_create_get_round_trip_with_defaults_and_normalised_codes(stub, db) -> None:
    created = await create_org(
        stub,
        name="Shree Cotton Traders",
        type=pb.ORGANIZATION_TYPE_PRIVATE_LIMITED,
        pan="aapfu0939f",
        cin="U01100MH2019PTC123456",
        contact_email="accounts@shree.example.com",
        contact_phone="+91 98765 43210",
        threshold_limit="50000000.00",
        tds_rate="0.1000",
        theme_color="#1A2B3C",
        logo_url="https://cdn.example.com/logo.png",
        extra_config=struct_pb2.Struct(fields={"erp": struct_pb2.Value(string_value="tally")}),
    )
    assert uuid.UUID(created.id) and created.etag and created.created_by == "anonymous"
    assert (created.pan, created.base_currency, created.is_active) == (PAN, "INR", True)
    assert created.threshold_limit == "50000000.0000" and created.tds_rate == "0.1000"
    assert created.type == pb.ORGANIZATION_TYPE_PRIVATE_LIMITED
    fetched = (await stub.GetOrganization(pb.GetOrganizationRequest(id=created.id))).organization
    assert fetched == created
    [event] = await events(db)
    assert event.event_type == "organization.created"
    assert pb.Organization.FromString(event.resource) == created


async def test_every_bad_field_is_named_once_and_nothing_is_written(stub, db: Database) -> None:
    failure = await expect_failure(
        stub.CreateOrganization(
            pb.CreateOrganizationRequest(
                organization=pb.Organization(
                    pan="ABCDE12345",
                    cin="X01100MH2019PTC123456",
                    base_currency="RUPEES",
                    contact_email="not-an-email",
                    audit_firm_email="a@b",
                    contact_phone="call me",
                    theme_color="red",
                    logo_url="ftp://x",
                    tds_rate="101",
                    tcs_rate="-1",
                    threshold_limit="-5",
                )
            )
        ),
        INVALID,
    )
    prefix = "organization."
    assert failure.fields == {
        prefix + name
        for name in (
            "name",
            "pan",
            "cin",
            "base_currency",
            "contact_email",
            "audit_firm_email",
            "contact_phone",
            "theme_color",
            "logo_url",
            "tds_rate",
            "tcs_rate",
            "threshold_limit",
        )
    }
    assert await event_count(db) == 0


async def test_each_identifier_has_its_reason(stub) -> None:
    for field, value, reason in (
        ("pan", "AAPFU0939", "INVALID_PAN"),
        ("cin", "U01100MH2019PTC12345", "INVALID_CIN"),
        ("base_currency", "XYZ", "INVALID_CURRENCY"),
        ("contact_email", "someone@", "INVALID_EMAIL"),
    ):
        failure = await expect_failure(create_org(stub, **{field: value}), INVALID)
        assert failure.reason == reason and failure.fields == {f"organization.{field}"}


async def test_name_is_unique_case_insensitively_among_live_rows(stub, db) -> None:
    first = await create_org(stub, name="Shree Cotton")
    failure = await expect_failure(create_org(stub, name="SHREE cotton"), EXISTS)
    assert failure.reason == "DUPLICATE_NAME" and failure.fields == {"organization.name"}
    await stub.DeleteOrganization(pb.DeleteOrganizationRequest(id=first.id))
    await create_org(stub, name="shree COTTON")
    await expect_failure(
        stub.UndeleteOrganization(pb.UndeleteOrganizationRequest(id=first.id)), EXISTS
    )


async def test_update_with_mask_etag_and_currency(stub, db) -> None:
    created = await create_org(stub, base_currency="usd")
    assert created.base_currency == "USD"
    updated = (
        await stub.UpdateOrganization(
            pb.UpdateOrganizationRequest(
                organization=pb.Organization(
                    id=created.id, legal_name="Shree Cotton Pvt Ltd", etag=created.etag
                ),
                update_mask=mask("legal_name", "base_currency"),
            )
        )
    ).organization
    # base_currency was cleared through the mask: it falls back to INR.
    assert (updated.legal_name, updated.base_currency) == ("Shree Cotton Pvt Ltd", "INR")
    stale = await expect_failure(
        stub.UpdateOrganization(
            pb.UpdateOrganizationRequest(
                organization=pb.Organization(id=created.id, name="x", etag=created.etag),
                update_mask=mask("name"),
            )
        ),
        grpc.StatusCode.ABORTED,
    )
    assert stale.reason == "ETAG_MISMATCH"
    [_, event] = await events(db)
    assert sorted(event.changed_fields) == ["base_currency", "legal_name"]


async def test_changing_the_pan_must_keep_every_gstin_consistent(stub) -> None:
    org = await create_org(stub, pan=PAN)
    await create_gst(stub, org.id, gstin=gstin(PAN))
    failure = await expect_failure(
        stub.UpdateOrganization(
            pb.UpdateOrganizationRequest(
                organization=pb.Organization(id=org.id, pan=OTHER_PAN), update_mask=mask("pan")
            )
        ),
        INVALID,
    )
    assert failure.reason == "GSTIN_PAN_MISMATCH" and failure.fields == {"organization.pan"}
    cleared = await stub.UpdateOrganization(
        pb.UpdateOrganizationRequest(
            organization=pb.Organization(id=org.id), update_mask=mask("pan")
        )
    )
    assert cleared.organization.pan == ""


async def test_unknown_and_malformed_ids(stub) -> None:
    missing = str(uuid.uuid4())
    failure = await expect_failure(
        stub.GetOrganization(pb.GetOrganizationRequest(id=missing)), NOT_FOUND
    )
    assert failure.reason == "ORGANIZATION_NOT_FOUND"
    bad = await expect_failure(stub.GetOrganization(pb.GetOrganizationRequest(id="x")), INVALID)
    assert bad.fields == {"id"}
    orphan = await expect_failure(create_gst(stub, missing), NOT_FOUND)
    assert orphan.reason == "ORGANIZATION_NOT_FOUND"


async def test_list_filter_order_and_paging(stub) -> None:
    for name, kind in (("Beta", "LLP"), ("alpha", "LLP"), ("Gamma", "PARTNERSHIP")):
        await create_org(
            stub, name=name, type=pb.OrganizationType.Value(f"ORGANIZATION_TYPE_{kind}")
        )
    reply = await stub.ListOrganizations(
        pb.ListOrganizationsRequest(filter="type = LLP", order_by="name desc")
    )
    assert [o.name for o in reply.organizations] == ["alpha", "Beta"]
    first = await stub.ListOrganizations(pb.ListOrganizationsRequest(page_size=2, order_by="name"))
    second = await stub.ListOrganizations(
        pb.ListOrganizationsRequest(page_size=2, order_by="name", page_token=first.next_page_token)
    )
    assert len(first.organizations) == 2 and len(second.organizations) == 1
    assert not second.next_page_token
    bad = await expect_failure(
        stub.ListOrganizations(pb.ListOrganizationsRequest(filter="colour = 1")), INVALID
    )
    assert "colour" in bad.message


async def test_delete_with_live_children_needs_force_which_cascades(stub, db) -> None:
    org = await create_org(stub, pan=PAN)
    gst = await create_gst(stub, org.id)
    account = await create_account(stub, org.id)
    year = await create_year(stub, org.id)
    series = await create_series(stub, org.id, year.id)
    refused = await expect_failure(
        stub.DeleteOrganization(pb.DeleteOrganizationRequest(id=org.id)), PRECONDITION
    )
    assert refused.reason == "HAS_CHILDREN"
    assert refused.metadata == {
        "gst_registration": "1",
        "bank_account": "1",
        "financial_year": "1",
        "document_series": "1",
    }
    before = await event_count(db)
    deleted = await stub.DeleteOrganization(pb.DeleteOrganizationRequest(id=org.id, force=True))
    assert deleted.organization.HasField("delete_time")
    cascade = [(e.event_type, str(e.aggregate_id)) for e in (await events(db))[before:]]
    assert cascade == [
        ("document_series.deleted", series.id),
        ("financial_year.deleted", year.id),
        ("gst_registration.deleted", gst.id),
        ("bank_account.deleted", account.id),
        ("organization.deleted", org.id),
    ]
    child = await stub.GetGstRegistration(pb.GetGstRegistrationRequest(id=gst.id))
    assert child.gst_registration.HasField("delete_time")
    restored = await stub.UndeleteOrganization(pb.UndeleteOrganizationRequest(id=org.id))
    assert not restored.organization.HasField("delete_time")
    still = await stub.GetBankAccount(pb.GetBankAccountRequest(id=account.id))
    assert still.bank_account.HasField("delete_time")  # children stay deleted


async def test_delete_without_children_and_undelete_of_a_child_of_a_deleted_parent(stub) -> None:
    org = await create_org(stub)
    gst = await create_gst(stub, org.id)
    await stub.DeleteGstRegistration(pb.DeleteGstRegistrationRequest(id=gst.id))
    await stub.DeleteOrganization(pb.DeleteOrganizationRequest(id=org.id))
    failure = await expect_failure(
        stub.UndeleteGstRegistration(pb.UndeleteGstRegistrationRequest(id=gst.id)), PRECONDITION
    )
    assert failure.reason == "PARENT_DELETED"
    await expect_failure(
        stub.DeleteOrganization(pb.DeleteOrganizationRequest(id=org.id)), NOT_FOUND
    )
    await expect_failure(create_year(stub, org.id), PRECONDITION)


async def test_create_is_idempotent_by_request_id(stub, db) -> None:
    request = pb.CreateOrganizationRequest(
        organization=pb.Organization(name="Once"), request_id=str(uuid.uuid4())
    )
    first = (await stub.CreateOrganization(request)).organization
    again = (await stub.CreateOrganization(request)).organization
    assert again == first and await event_count(db) == 1
