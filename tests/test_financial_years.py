"""Financial years: dates, overlap, activation, and what blocks their deletion."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.type import date_pb2
from grpc import aio
from organization_support import (
    activate,
    create_org,
    create_series,
    create_year,
    day,
    mask,
    next_number,
)
from support import events, expect_failure

from masterdata.v1 import organization_pb2 as pb
from masterdata.v1 import organization_pb2_grpc

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION


@pytest.fixture
def stub(channel: aio.Channel) -> organization_pb2_grpc.OrganizationServiceStub:
    return organization_pb2_grpc.OrganizationServiceStub(channel)


async def test_create_is_inactive_and_is_active_is_output_only(stub, db) -> None:
    org = await create_org(stub)
    year = await create_year(stub, org.id, is_active=True, allow_year_split=True)
    assert not year.is_active and year.allow_year_split
    assert year.start_date == day("2025-04-01") and year.end_date == day("2026-03-31")
    updated = await stub.UpdateFinancialYear(
        pb.UpdateFinancialYearRequest(
            financial_year=pb.FinancialYear(id=year.id, is_active=True),
            update_mask=mask("is_active"),
        )
    )
    assert not updated.financial_year.is_active


async def test_dates_are_required_and_end_must_follow_start(stub) -> None:
    org = await create_org(stub)
    missing = await expect_failure(
        stub.CreateFinancialYear(
            pb.CreateFinancialYearRequest(financial_year=pb.FinancialYear(organization_id=org.id))
        ),
        INVALID,
    )
    assert missing.fields == {"financial_year.start_date", "financial_year.end_date"}
    backwards = await expect_failure(
        create_year(stub, org.id, start="2025-04-01", end="2025-04-01"), INVALID
    )
    assert backwards.reason == "END_BEFORE_START"
    impossible = await expect_failure(
        stub.CreateFinancialYear(
            pb.CreateFinancialYearRequest(
                financial_year=pb.FinancialYear(
                    organization_id=org.id,
                    start_date=day("2025-04-01"),
                    end_date=date_pb2.Date(year=2026, month=2, day=30),
                )
            )
        ),
        INVALID,
    )
    assert impossible.fields == {"financial_year.end_date"}


async def test_years_of_one_organization_never_overlap(stub) -> None:
    org, other = await create_org(stub, name="a"), await create_org(stub, name="b")
    first = await create_year(stub, org.id, "2025-04-01", "2026-03-31")
    overlap = await expect_failure(create_year(stub, org.id, "2026-03-31", "2027-03-31"), INVALID)
    assert overlap.reason == "FINANCIAL_YEAR_OVERLAP"
    assert first.id in overlap.violations["financial_year.start_date"]
    inside = await expect_failure(create_year(stub, org.id, "2025-06-01", "2025-07-01"), INVALID)
    assert inside.reason == "FINANCIAL_YEAR_OVERLAP"
    await create_year(stub, other.id, "2025-04-01", "2026-03-31")  # another organization
    second = await create_year(stub, org.id, "2026-04-01", "2027-03-31")  # adjacent
    moved = await expect_failure(
        stub.UpdateFinancialYear(
            pb.UpdateFinancialYearRequest(
                financial_year=pb.FinancialYear(id=second.id, start_date=day("2026-01-01")),
                update_mask=mask("start_date"),
            )
        ),
        INVALID,
    )
    assert moved.reason == "FINANCIAL_YEAR_OVERLAP"
    # Its own dates never count as an overlap.
    await stub.UpdateFinancialYear(
        pb.UpdateFinancialYearRequest(
            financial_year=pb.FinancialYear(id=second.id, end_date=day("2027-06-30")),
            update_mask=mask("end_date"),
        )
    )


async def test_activation_switches_atomically_with_an_event_each(stub, db) -> None:
    org = await create_org(stub)
    old = await create_year(stub, org.id, "2024-04-01", "2025-03-31")
    new = await create_year(stub, org.id, "2025-04-01", "2026-03-31")
    assert (await activate(stub, old.id)).is_active
    active = await activate(stub, new.id)
    assert active.is_active and active.etag != new.etag
    years = await stub.ListFinancialYears(pb.ListFinancialYearsRequest(organization_id=org.id))
    assert [(y.id, y.is_active) for y in years.financial_years] == [(old.id, False), (new.id, True)]
    flips = [(str(e.aggregate_id), e.changed_fields) for e in await events(db)][-3:]
    assert flips == [(old.id, ["is_active"]), (old.id, ["is_active"]), (new.id, ["is_active"])]
    same = await activate(stub, new.id)  # already active: nothing changes
    assert same.etag == active.etag
    stale = await expect_failure(
        stub.ActivateFinancialYear(pb.ActivateFinancialYearRequest(id=old.id, etag=old.etag)),
        grpc.StatusCode.ABORTED,
    )
    assert stale.reason == "ETAG_MISMATCH"


async def test_activating_a_year_of_another_organization_leaves_ours_alone(stub) -> None:
    ours, theirs = await create_org(stub, name="ours"), await create_org(stub, name="theirs")
    our_year = await create_year(stub, ours.id)
    their_year = await create_year(stub, theirs.id)
    await activate(stub, our_year.id)
    await activate(stub, their_year.id)
    kept = await stub.GetFinancialYear(pb.GetFinancialYearRequest(id=our_year.id))
    assert kept.financial_year.is_active
    # With the owner named, a year of another organization is refused.
    refused = await expect_failure(
        stub.ActivateFinancialYear(
            pb.ActivateFinancialYearRequest(id=their_year.id, organization_id=ours.id)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert refused.reason == "FINANCIAL_YEAR_OF_OTHER_ORGANIZATION"
    assert (
        await stub.GetFinancialYear(pb.GetFinancialYearRequest(id=our_year.id))
    ).financial_year.is_active


async def test_activating_a_deleted_or_unknown_year_is_not_found(stub) -> None:
    org = await create_org(stub)
    year = await create_year(stub, org.id)
    await stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=year.id))
    deleted = await expect_failure(activate(stub, year.id), NOT_FOUND)
    assert deleted.reason == "DELETED"
    unknown = await expect_failure(activate(stub, str(uuid.uuid4())), NOT_FOUND)
    assert unknown.reason == "FINANCIAL_YEAR_NOT_FOUND"


async def test_the_active_year_cannot_be_deleted(stub) -> None:
    org = await create_org(stub)
    year = await create_year(stub, org.id)
    await activate(stub, year.id)
    failure = await expect_failure(
        stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=year.id)), PRECONDITION
    )
    assert failure.reason == "FINANCIAL_YEAR_ACTIVE"


async def test_a_year_with_issued_numbers_cannot_be_deleted(stub) -> None:
    org = await create_org(stub)
    numbered = await create_year(stub, org.id, "2024-04-01", "2025-03-31")
    await activate(stub, numbered.id)
    series = await create_series(stub, org.id, numbered.id)
    await next_number(stub, org.id)
    await activate(stub, (await create_year(stub, org.id)).id)
    with_series = await expect_failure(
        stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=numbered.id)), PRECONDITION
    )
    assert with_series.reason == "NUMBERS_ISSUED"
    await stub.DeleteDocumentSeries(pb.DeleteDocumentSeriesRequest(id=series.id))
    still = await expect_failure(
        stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=numbered.id)), PRECONDITION
    )
    assert still.reason == "NUMBERS_ISSUED"


async def test_a_year_with_live_series_cannot_be_deleted_until_they_are(stub) -> None:
    org = await create_org(stub)
    year = await create_year(stub, org.id)
    series = await create_series(stub, org.id, year.id)
    failure = await expect_failure(
        stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=year.id)), PRECONDITION
    )
    assert failure.reason == "HAS_CHILDREN" and failure.metadata == {"document_series": "1"}
    await stub.DeleteDocumentSeries(pb.DeleteDocumentSeriesRequest(id=series.id))
    deleted = await stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=year.id))
    assert deleted.financial_year.HasField("delete_time")
    blocked = await expect_failure(
        stub.UndeleteDocumentSeries(pb.UndeleteDocumentSeriesRequest(id=series.id)), PRECONDITION
    )
    assert blocked.reason == "FINANCIAL_YEAR_DELETED"


async def test_undelete_is_inactive_and_refuses_an_overlap(stub) -> None:
    org = await create_org(stub)
    year = await create_year(stub, org.id)
    await stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=year.id))
    replacement = await create_year(stub, org.id, "2025-10-01", "2026-09-30")
    overlap = await expect_failure(
        stub.UndeleteFinancialYear(pb.UndeleteFinancialYearRequest(id=year.id)), PRECONDITION
    )
    assert overlap.reason == "FINANCIAL_YEAR_OVERLAP"
    await stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=replacement.id))
    restored = await stub.UndeleteFinancialYear(pb.UndeleteFinancialYearRequest(id=year.id))
    assert not restored.financial_year.is_active


async def test_a_force_deleted_active_year_comes_back_inactive(stub) -> None:
    org = await create_org(stub)
    year = await create_year(stub, org.id)
    await activate(stub, year.id)
    await stub.DeleteOrganization(pb.DeleteOrganizationRequest(id=org.id, force=True))
    await stub.UndeleteOrganization(pb.UndeleteOrganizationRequest(id=org.id))
    restored = await stub.UndeleteFinancialYear(pb.UndeleteFinancialYearRequest(id=year.id))
    assert not restored.financial_year.is_active


async def test_list_filters_by_date_and_orders_by_start(stub) -> None:
    org = await create_org(stub)
    for start, end in (("2025-04-01", "2026-03-31"), ("2023-04-01", "2024-03-31")):
        await create_year(stub, org.id, start, end)
    reply = await stub.ListFinancialYears(
        pb.ListFinancialYearsRequest(organization_id=org.id, filter='start_date >= "2024-01-01"')
    )
    assert [y.start_date.year for y in reply.financial_years] == [2025]
    ordered = await stub.ListFinancialYears(
        pb.ListFinancialYearsRequest(organization_id=org.id, order_by="start_date desc")
    )
    assert [y.start_date.year for y in ordered.financial_years] == [2025, 2023]
