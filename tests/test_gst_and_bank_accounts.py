"""GST registrations and bank accounts: GSTIN rules, one primary/default, masking."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest
from grpc import aio
from organization_support import (
    OTHER_PAN,
    PAN,
    TIMEOUT,
    create_account,
    create_gst,
    create_org,
    gstin,
    mask,
    patiently,
)
from support import event_count, events, expect_failure

from masterdata.v1 import organization_pb2 as pb
from masterdata.v1 import organization_pb2_grpc

INVALID, EXISTS = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS


@pytest.fixture
def stub(channel: aio.Channel) -> organization_pb2_grpc.OrganizationServiceStub:
    return organization_pb2_grpc.OrganizationServiceStub(channel)


def flip(value: str, position: int) -> str:
    """The value with one character replaced by another of the GSTIN alphabet."""
    replacement = "7" if value[position] != "7" else "8"
    return value[:position] + replacement + value[position + 1 :]


async def test_valid_gstin_is_stored_upper_case(stub, db) -> None:
    org = await create_org(stub, pan=PAN)
    created = await create_gst(stub, org.id, gstin=gstin(PAN).lower(), state="Maharashtra")
    assert created.gstin == gstin(PAN) and created.is_active and not created.is_primary
    assert created.organization_id == org.id
    got = await stub.GetGstRegistration(pb.GetGstRegistrationRequest(id=created.id))
    assert got.gst_registration == created


BAD_GSTINS = [
    (flip(gstin(PAN), 14), "GSTIN_CHECKSUM"),
    (flip(gstin(PAN), 5), "GSTIN_CHECKSUM"),
    (gstin(PAN, state="40"), "GSTIN_STATE_CODE"),
    ("27AAPFU0939F1Z", "INVALID_GSTIN"),
    (gstin(OTHER_PAN), "GSTIN_PAN_MISMATCH"),
]


async def test_bad_gstin_reasons(stub, db) -> None:
    org = await create_org(stub, pan=PAN)
    for value, reason in BAD_GSTINS:
        failure = await expect_failure(create_gst(stub, org.id, gstin=value), INVALID)
        assert failure.reason == reason and failure.fields == {"gst_registration.gstin"}, value
    assert await event_count(db) == 1


async def test_any_pan_is_accepted_when_the_organization_has_none(stub) -> None:
    org = await create_org(stub)
    assert (await create_gst(stub, org.id, gstin=gstin(OTHER_PAN))).gstin == gstin(OTHER_PAN)


async def test_duplicate_gstin_among_live_rows_is_already_exists(stub) -> None:
    first_org = await create_org(stub, name="a")
    other_org = await create_org(stub, name="b")
    first = await create_gst(stub, first_org.id)
    failure = await expect_failure(create_gst(stub, other_org.id), EXISTS)
    assert failure.reason == "DUPLICATE_GSTIN" and failure.fields == {"gst_registration.gstin"}
    await stub.DeleteGstRegistration(pb.DeleteGstRegistrationRequest(id=first.id))
    await create_gst(stub, other_org.id)
    await expect_failure(
        stub.UndeleteGstRegistration(pb.UndeleteGstRegistrationRequest(id=first.id)), EXISTS
    )


async def test_a_new_primary_demotes_the_old_one_with_an_event_each(stub, db) -> None:
    org = await create_org(stub, pan=PAN)
    first = await create_gst(stub, org.id, gstin=gstin(entity=1), is_primary=True)
    second = await create_gst(stub, org.id, gstin=gstin(entity=2), is_primary=True)
    old = (
        await stub.GetGstRegistration(pb.GetGstRegistrationRequest(id=first.id))
    ).gst_registration
    assert second.is_primary and not old.is_primary and old.etag != first.etag
    kinds = [(e.event_type, str(e.aggregate_id), e.changed_fields) for e in await events(db)][-2:]
    assert kinds == [
        ("gst_registration.updated", first.id, ["is_primary"]),
        ("gst_registration.created", second.id, []),
    ]
    again = await stub.UpdateGstRegistration(
        pb.UpdateGstRegistrationRequest(
            gst_registration=pb.GstRegistration(id=first.id, is_primary=True),
            update_mask=mask("is_primary"),
        )
    )
    assert again.gst_registration.is_primary
    listed = await stub.ListGstRegistrations(
        pb.ListGstRegistrationsRequest(organization_id=org.id, filter="is_primary = true")
    )
    assert [g.id for g in listed.gst_registrations] == [first.id]


async def test_a_restored_primary_yields_to_the_current_one(stub) -> None:
    org = await create_org(stub)
    first = await create_gst(stub, org.id, gstin=gstin(entity=1), is_primary=True)
    await stub.DeleteGstRegistration(pb.DeleteGstRegistrationRequest(id=first.id))
    second = await create_gst(stub, org.id, gstin=gstin(entity=2), is_primary=True)
    restored = await stub.UndeleteGstRegistration(pb.UndeleteGstRegistrationRequest(id=first.id))
    assert not restored.gst_registration.is_primary
    current = await stub.GetGstRegistration(pb.GetGstRegistrationRequest(id=second.id))
    assert current.gst_registration.is_primary


async def test_children_are_listed_per_organization_which_is_required(stub) -> None:
    a, b = await create_org(stub, name="a"), await create_org(stub, name="b")
    await create_gst(stub, a.id, gstin=gstin(entity=1), state="Gujarat")
    await create_gst(stub, a.id, gstin=gstin(entity=2), state="Assam")
    await create_gst(stub, b.id, gstin=gstin(entity=3))
    reply = await stub.ListGstRegistrations(
        pb.ListGstRegistrationsRequest(organization_id=a.id, order_by="state")
    )
    assert [g.state for g in reply.gst_registrations] == ["Assam", "Gujarat"]
    failure = await expect_failure(
        stub.ListGstRegistrations(pb.ListGstRegistrationsRequest()), INVALID
    )
    assert failure.fields == {"organization_id"}


async def test_organization_of_a_child_is_immutable(stub) -> None:
    a, b = await create_org(stub, name="a"), await create_org(stub, name="b")
    gst = await create_gst(stub, a.id)
    failure = await expect_failure(
        stub.UpdateGstRegistration(
            pb.UpdateGstRegistrationRequest(
                gst_registration=pb.GstRegistration(id=gst.id, organization_id=b.id),
                update_mask=mask("organization_id"),
            )
        ),
        INVALID,
    )
    assert failure.reason == "IMMUTABLE"


async def test_account_numbers_are_masked_in_responses_lists_and_events(stub, db) -> None:
    org = await create_org(stub)
    created = await create_account(
        stub, org.id, account_number="50100012341234", ifsc="hdfc0001234"
    )
    assert created.account_number == "XXXXXX1234" and created.ifsc == "HDFC0001234"
    got = await stub.GetBankAccount(pb.GetBankAccountRequest(id=created.id))
    listed = await stub.ListBankAccounts(pb.ListBankAccountsRequest(organization_id=org.id))
    assert got.bank_account == created == listed.bank_accounts[0]
    for event in await events(db, aggregate_type="bank_account"):
        assert pb.BankAccount.FromString(event.resource).account_number == "XXXXXX1234"
    bad = await expect_failure(
        stub.ListBankAccounts(
            pb.ListBankAccountsRequest(organization_id=org.id, filter='account_number = "1"')
        ),
        INVALID,
    )
    assert "account_number" in bad.message


async def test_sending_back_a_masked_number_keeps_the_real_one(stub, db) -> None:
    org = await create_org(stub)
    created = await create_account(stub, org.id, account_number="50100012341234")
    created.bank_name = "ICICI Bank"
    updated = await stub.UpdateBankAccount(pb.UpdateBankAccountRequest(bank_account=created))
    assert updated.bank_account.bank_name == "ICICI Bank"
    [*_, event] = await events(db)
    assert event.changed_fields == ["bank_name"]
    # The real number is still there: the same number is a duplicate.
    failure = await expect_failure(
        create_account(stub, org.id, account_number="50100012341234"), EXISTS
    )
    assert failure.reason == "DUPLICATE_ACCOUNT_NUMBER"


async def test_bank_account_validation_names_every_field(stub) -> None:
    org = await create_org(stub)
    failure = await expect_failure(
        stub.CreateBankAccount(
            pb.CreateBankAccountRequest(
                bank_account=pb.BankAccount(
                    organization_id=org.id, account_number="12-34", ifsc="HDFC1234567"
                )
            )
        ),
        INVALID,
    )
    assert failure.violations.keys() == {
        "bank_account.account_holder",
        "bank_account.bank_name",
        "bank_account.account_number",
        "bank_account.ifsc",
    }
    ifsc = await expect_failure(create_account(stub, org.id, ifsc="HDFC1234567"), INVALID)
    assert ifsc.reason == "INVALID_IFSC"


async def test_one_default_account_per_organization(stub, db) -> None:
    org = await create_org(stub)
    first = await create_account(stub, org.id, account_number="111111111", is_default=True)
    second = await create_account(stub, org.id, account_number="222222222", is_default=True)
    reply = await stub.ListBankAccounts(
        pb.ListBankAccountsRequest(organization_id=org.id, filter="is_default = true")
    )
    assert [a.id for a in reply.bank_accounts] == [second.id]
    demoted = (await events(db, aggregate_id=uuid.UUID(first.id)))[-1]
    assert (demoted.event_type, demoted.changed_fields) == ("bank_account.updated", ["is_default"])


async def test_concurrent_make_primary_calls_leave_exactly_one_primary(stub, db) -> None:
    org = await create_org(stub, pan=PAN)
    count = 100
    registrations = [
        await create_gst(
            stub, org.id, gstin=gstin(PAN, state=f"{1 + i // 35:02d}", entity=1 + i % 35)
        )
        for i in range(count)
    ]

    async def make_primary(registration: pb.GstRegistration) -> None:
        request = pb.UpdateGstRegistrationRequest(
            gst_registration=pb.GstRegistration(id=registration.id, is_primary=True),
            update_mask=mask("is_primary"),
        )
        await patiently(lambda: stub.UpdateGstRegistration(request, timeout=TIMEOUT))

    await asyncio.gather(*(make_primary(r) for r in registrations))
    reply = await stub.ListGstRegistrations(
        pb.ListGstRegistrationsRequest(
            organization_id=org.id, filter="is_primary = true", page_size=1000
        )
    )
    assert len(reply.gst_registrations) == 1
    flips = await events(db, event_type="gst_registration.updated")
    # Every call promoted its registration; all but the first also demoted one.
    assert len(flips) == 2 * count - 1
