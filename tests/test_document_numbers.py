"""Document series and NextDocumentNumber: formatting, preconditions, idempotency,
rollover, and gap-free numbering under concurrency (one process and two)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

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
    numbering,
    patiently,
)
from processes import running_server
from sqlalchemy import update
from support import event_count, events, expect_failure

from masterdata.server.app import App
from masterdata.server.families.organizations import batching as batching_module
from masterdata.server.families.organizations import numbering as numbering_module
from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.organization import DocumentSeriesRow
from masterdata.v1 import organization_pb2 as pb
from masterdata.v1 import organization_pb2_grpc

INVALID, NOT_FOUND = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND
PRECONDITION, EXISTS = grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS
#: Two server processes well inside PostgreSQL's max_connections; 250 calls queue
#: for 10 connections per process, so a loaded CI machine needs a patient pool.
SMALL_POOL = {
    "MASTERDATA_POOL_SIZE": "6",
    "MASTERDATA_MAX_OVERFLOW": "4",
    "MASTERDATA_POOL_TIMEOUT_S": "60",
    "MASTERDATA_READ_POOL_SIZE": "3",
}
ISSUED = "document_series.number_issued"


@pytest.fixture
def stub(channel: aio.Channel) -> organization_pb2_grpc.OrganizationServiceStub:
    return organization_pb2_grpc.OrganizationServiceStub(channel)


async def test_series_defaults_and_normalised_type(stub) -> None:
    org = await create_org(stub)
    year = await create_year(stub, org.id)
    series = await create_series(stub, org.id, year.id, document_type="sales_invoice")
    assert series.document_type == "SALES_INVOICE"
    assert (series.padding, series.next_number, series.reset_annually, series.is_active) == (
        6,
        1,
        True,
        True,
    )
    duplicate = await expect_failure(
        create_series(stub, org.id, year.id, document_type="SALES_INVOICE"), EXISTS
    )
    assert duplicate.reason == "DUPLICATE_DOCUMENT_TYPE"
    listed = await stub.ListDocumentSeries(
        pb.ListDocumentSeriesRequest(
            organization_id=org.id, filter=f'financial_year_id = "{year.id}"'
        )
    )
    assert [s.id for s in listed.document_series] == [series.id]


async def test_series_validation_names_every_field(stub) -> None:
    org = await create_org(stub)
    year = await create_year(stub, org.id)
    failure = await expect_failure(
        create_series(
            stub,
            org.id,
            year.id,
            document_type="1NVOICE",
            prefix="INV/{FYY}/",
            suffix="{DD}",
            padding=0,
            next_number=0,
        ),
        INVALID,
    )
    assert failure.fields == {
        f"document_series.{name}"
        for name in ("document_type", "prefix", "suffix", "padding", "next_number")
    }


async def test_series_year_must_be_a_live_year_of_the_same_organization(stub) -> None:
    org, other = await create_org(stub, name="a"), await create_org(stub, name="b")
    their_year = await create_year(stub, other.id)
    foreign = await expect_failure(create_series(stub, org.id, their_year.id), INVALID)
    assert foreign.reason == "FINANCIAL_YEAR_OF_OTHER_ORGANIZATION"
    assert foreign.fields == {"document_series.financial_year_id"}
    missing = await expect_failure(create_series(stub, org.id, str(uuid.uuid4())), NOT_FOUND)
    assert missing.reason == "FINANCIAL_YEAR_NOT_FOUND"
    year = await create_year(stub, org.id)
    await stub.DeleteFinancialYear(pb.DeleteFinancialYearRequest(id=year.id))
    deleted = await expect_failure(create_series(stub, org.id, year.id), PRECONDITION)
    assert deleted.reason == "FINANCIAL_YEAR_DELETED"


async def test_numbers_are_formatted_with_tokens_and_recorded(stub, db: Database) -> None:
    setup = await numbering(stub, prefix="INV/{FY}/", suffix="/{MM}-{YY}/{YYYY}", padding=4)
    issued = [
        await next_number(stub, setup.org.id, "invoice", issue_date=day("2025-07-15"))
        for _ in range(3)
    ]
    assert [r.document_number for r in issued] == [
        f"INV/2025-26/000{n}/07-25/2025" for n in (1, 2, 3)
    ]
    assert [r.number for r in issued] == [1, 2, 3]
    assert {(r.series_id, r.financial_year_id) for r in issued} == {
        (setup.series.id, setup.year.id)
    }
    recorded = await events(db, event_type=ISSUED)
    assert [e.aggregate_version for e in recorded] == [2, 3, 4]
    after = pb.DocumentSeries.FromString(recorded[-1].resource)
    assert (after.id, after.next_number) == (setup.series.id, 4)
    got = await stub.GetDocumentSeries(pb.GetDocumentSeriesRequest(id=setup.series.id))
    assert got.document_series.next_number == 4 and got.document_series == after


async def test_issue_date_defaults_to_today_in_india(stub) -> None:
    setup = await numbering(stub, prefix="{YYYY}{MM}-")
    reply = await next_number(stub, setup.org.id)
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    assert reply.document_number == f"{today:%Y%m}-000001"


async def test_preconditions_name_what_is_missing(stub, db) -> None:
    org = await create_org(stub)
    no_year = await expect_failure(next_number(stub, org.id), PRECONDITION)
    assert no_year.reason == "NO_ACTIVE_FINANCIAL_YEAR"
    year = await create_year(stub, org.id)
    await activate(stub, year.id)
    no_series = await expect_failure(next_number(stub, org.id), PRECONDITION)
    assert no_series.reason == "NO_DOCUMENT_SERIES"
    assert no_series.metadata["document_type"] == "INVOICE"
    series = await create_series(stub, org.id, year.id, is_active=False)
    inactive = await expect_failure(next_number(stub, org.id), PRECONDITION)
    assert inactive.reason == "DOCUMENT_SERIES_INACTIVE"
    unknown = await expect_failure(next_number(stub, str(uuid.uuid4())), NOT_FOUND)
    assert unknown.reason == "ORGANIZATION_NOT_FOUND"
    got = await stub.GetDocumentSeries(pb.GetDocumentSeriesRequest(id=series.id))
    assert got.document_series.next_number == 1
    assert not await events(db, event_type=ISSUED)


async def test_malformed_requests_name_every_field(stub) -> None:
    failure = await expect_failure(
        stub.NextDocumentNumber(
            pb.NextDocumentNumberRequest(
                organization_id="nope",
                document_type="in voice",
                issue_date=date_pb2.Date(year=2025),
                request_id="not-a-uuid",
            )
        ),
        INVALID,
    )
    assert failure.fields >= {"organization_id", "document_type", "issue_date"}


async def test_a_retried_request_id_returns_the_same_number_and_consumes_nothing(stub, db) -> None:
    setup = await numbering(stub)
    request_id = str(uuid.uuid4())
    first = await next_number(stub, setup.org.id, request_id=request_id)
    again = await next_number(stub, setup.org.id, request_id=request_id)
    twins = await asyncio.gather(
        *(next_number(stub, setup.org.id, request_id=request_id) for _ in range(10))
    )
    assert first == again and all(t == first for t in twins) and first.number == 1
    assert (await next_number(stub, setup.org.id)).number == 2
    assert len(await events(db, event_type=ISSUED)) == 2
    # The same key with another request is refused, not answered with the first reply.
    other = next_number(stub, setup.org.id, "RECEIPT", request_id=request_id)
    reused = await expect_failure(other, INVALID)
    assert reused.reason == "REQUEST_ID_REUSED" and reused.fields == {"request_id"}


async def test_a_number_is_consumed_only_when_its_transaction_commits(
    stub, db, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after the number was taken leaves it to the next caller: on the
    batched path, the write's own event insert fails (its id clashes) and the call is
    served again by the locking path, with the same number; on the locking path,
    recording the event fails after the increment."""
    setup = await numbering(stub)
    clash = (await events(db))[0].event_id
    rows_of = batching_module.event_rows
    clashed: list[bool] = []

    def clashing_rows(*args: Any, **kwargs: Any) -> list[Any]:
        monkeypatch.setattr(batching_module, "event_rows", rows_of)
        clashed.append(True)
        return [row._replace(event_id=clash) for row in rows_of(*args, **kwargs)]

    monkeypatch.setattr(batching_module, "event_rows", clashing_rows)
    assert (await next_number(stub, setup.org.id)).number == 1
    assert clashed == [True]

    async def no_series_read(*_: object) -> None:
        return None  # the locking path: as when there is no series to explain

    monkeypatch.setattr(batching_module, "read_series", no_series_read)
    original = numbering_module.record_event

    def fail_once(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(numbering_module, "record_event", original)
        raise RuntimeError("injected failure after the increment")

    monkeypatch.setattr(numbering_module, "record_event", fail_once)
    await expect_failure(next_number(stub, setup.org.id), grpc.StatusCode.INTERNAL)
    assert (await next_number(stub, setup.org.id)).number == 2
    monkeypatch.undo()
    assert (await next_number(stub, setup.org.id)).number == 3


async def test_a_batch_that_finds_the_series_moved_on_waits_for_its_lock(
    stub, db: Database, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer moves the series on between the batch's read and its write (as a
    second server process taking numbers does): the batch then takes its numbers
    under the series' lock, in one more transaction, not one call at a time (and so
    do the batches right after it)."""
    setup = await numbering(stub)
    read = batching_module.read_series
    backend = app.runtime.db.backend
    locked_writes = 0
    write_locked = backend.write_locked

    async def read_then_move_on(*args: Any) -> Any:
        monkeypatch.setattr(batching_module, "read_series", read)
        series = await read(*args)
        async with db.writer.begin() as conn:  # the other writer
            await conn.execute(
                update(DocumentSeriesRow)
                .where(DocumentSeriesRow.id == uuid.UUID(setup.series.id))
                .values(revision=DocumentSeriesRow.revision + 1)
            )
        return series

    async def counted(*args: Any) -> Any:
        nonlocal locked_writes
        locked_writes += 1
        return await write_locked(*args)

    async def alone(_: object, call: Any) -> None:
        call.settle(AssertionError("a call was served alone"))  # fails the call at once

    monkeypatch.setattr(batching_module, "read_series", read_then_move_on)
    monkeypatch.setattr(backend, "write_locked", counted)
    monkeypatch.setattr(batching_module.NumberBatcher, "_alone", alone)
    replies = await asyncio.gather(*(next_number(stub, setup.org.id) for _ in range(5)))
    assert sorted(r.number for r in replies) == [1, 2, 3, 4, 5]
    assert locked_writes >= 1
    issued = await events(db, event_type=ISSUED)
    assert sorted(e.aggregate_version for e in issued) == [3, 4, 5, 6, 7]


async def test_next_number_is_frozen_once_numbers_are_issued(stub) -> None:
    setup = await numbering(stub)

    def set_next(value: int) -> pb.UpdateDocumentSeriesRequest:
        return pb.UpdateDocumentSeriesRequest(
            document_series=pb.DocumentSeries(id=setup.series.id, next_number=value),
            update_mask=mask("next_number"),
        )

    moved = await stub.UpdateDocumentSeries(set_next(1001))
    assert moved.document_series.next_number == 1001
    assert (await next_number(stub, setup.org.id)).number == 1001
    frozen = await expect_failure(stub.UpdateDocumentSeries(set_next(1)), PRECONDITION)
    assert frozen.reason == "NUMBERS_ISSUED"
    renamed = await stub.UpdateDocumentSeries(
        pb.UpdateDocumentSeriesRequest(
            document_series=pb.DocumentSeries(id=setup.series.id, prefix="B/"),
            update_mask=mask("prefix"),
        )
    )
    assert renamed.document_series.prefix == "B/"


async def test_rollover_resets_or_continues_each_series(stub, db) -> None:
    setup = await numbering(stub)
    await create_series(
        stub, setup.org.id, setup.year.id, document_type="CONTRACT", reset_annually=False
    )
    for kind in ("INVOICE", "INVOICE", "CONTRACT"):
        await next_number(stub, setup.org.id, kind)
    new_year = await create_year(stub, setup.org.id, "2026-04-01", "2027-03-31")
    request = pb.RollOverDocumentSeriesRequest(
        organization_id=setup.org.id,
        from_financial_year_id=setup.year.id,
        to_financial_year_id=new_year.id,
        request_id=str(uuid.uuid4()),
    )
    reply = await stub.RollOverDocumentSeries(request)
    copies = [(s.document_type, s.next_number, s.prefix) for s in reply.document_series]
    assert copies == [("CONTRACT", 2, ""), ("INVOICE", 1, "INV/{FY}/")]
    assert {s.financial_year_id for s in reply.document_series} == {new_year.id}
    before = await event_count(db)
    assert await stub.RollOverDocumentSeries(request) == reply  # replayed, nothing copied
    assert await event_count(db) == before
    request.request_id = ""
    clash = await expect_failure(stub.RollOverDocumentSeries(request), EXISTS)
    assert clash.reason == "DUPLICATE_DOCUMENT_TYPE"
    await activate(stub, new_year.id)
    contract = await next_number(stub, setup.org.id, "CONTRACT")
    invoice = await next_number(stub, setup.org.id, issue_date=day("2026-05-01"))
    assert (contract.number, invoice.document_number) == (2, "INV/2026-27/000001")


async def test_rollover_refuses_foreign_equal_and_unknown_years(stub) -> None:
    org, other = await create_org(stub, name="a"), await create_org(stub, name="b")
    year = await create_year(stub, org.id)
    their_year = await create_year(stub, other.id)

    def rollover(source: str, target: str) -> object:
        return stub.RollOverDocumentSeries(
            pb.RollOverDocumentSeriesRequest(
                organization_id=org.id, from_financial_year_id=source, to_financial_year_id=target
            )
        )

    foreign = await expect_failure(rollover(year.id, their_year.id), INVALID)
    assert foreign.reason == "FINANCIAL_YEAR_OF_OTHER_ORGANIZATION"
    assert foreign.fields == {"to_financial_year_id"}
    same = await expect_failure(rollover(year.id, year.id), INVALID)
    assert same.reason == "SAME_FINANCIAL_YEAR"
    await expect_failure(rollover(year.id, str(uuid.uuid4())), NOT_FOUND)
    bad = await expect_failure(rollover("x", "y"), INVALID)
    assert bad.fields == {"from_financial_year_id", "to_financial_year_id"}


async def test_200_concurrent_calls_on_one_process_get_1_to_200(stub, db) -> None:
    setup = await numbering(stub)
    replies = await asyncio.gather(
        *(patiently(lambda: next_number(stub, setup.org.id)) for _ in range(200))
    )
    assert sorted(r.number for r in replies) == list(range(1, 201))
    assert len({r.document_number for r in replies}) == 200
    issued = await events(db, event_type=ISSUED)
    assert len(issued) == 200
    # The last event carries the series as it is now (next number, revision, times).
    last = max(issued, key=lambda e: e.aggregate_version)
    now = await stub.GetDocumentSeries(pb.GetDocumentSeriesRequest(id=setup.series.id))
    assert pb.DocumentSeries.FromString(last.resource) == now.document_series


async def test_a_concurrent_burst_with_request_ids_and_twins_gets_each_number_once(
    stub, db
) -> None:
    """Calls arriving together share transactions (batching.py): every request_id still
    gets one number, a twin sent in the same burst gets the same one, and each
    number_issued event names the request_id of the call that received the number."""
    setup = await numbering(stub)
    ids = [str(uuid.uuid4()) for _ in range(30)]
    sent = [*ids, *ids[:5], *([""] * 10)]  # five twins and ten calls without an id
    replies = await asyncio.gather(
        *(
            patiently(lambda rid=rid: next_number(stub, setup.org.id, request_id=rid))
            for rid in sent
        )
    )
    by_id = dict(zip(sent[:30], replies[:30], strict=True))
    for rid, twin in zip(sent[30:35], replies[30:35], strict=True):
        assert twin == by_id[rid]
    assert sorted(r.number for r in [*replies[:30], *replies[35:]]) == list(range(1, 41))
    issued = await events(db, event_type=ISSUED)
    assert len(issued) == 40
    numbered = {
        e.request_id: pb.DocumentSeries.FromString(e.resource).next_number - 1 for e in issued
    }
    assert all(numbered[rid] == by_id[rid].number for rid in ids)
    versions = sorted(e.aggregate_version for e in issued)
    assert versions == list(range(versions[0], versions[0] + 40))


@pytest.mark.timeout(180)
async def test_500_concurrent_calls_across_two_processes_get_1_to_500(
    stub, db: Database, app: App
) -> None:
    if not db.is_postgres:
        pytest.skip("two server processes share one database only on PostgreSQL")
    setup = await numbering(stub)
    url = app.runtime.settings.database_url
    async with contextlib.AsyncExitStack() as stack:
        servers = await asyncio.gather(
            *(stack.enter_async_context(running_server(url, SMALL_POOL)) for _ in range(2))
        )
        channels = [
            await stack.enter_async_context(aio.insecure_channel(s.target)) for s in servers
        ]
        stubs = [organization_pb2_grpc.OrganizationServiceStub(c) for c in channels]
        replies = await asyncio.gather(
            *(next_number(stubs[i % 2], setup.org.id) for i in range(500))
        )
    assert sorted(r.number for r in replies) == list(range(1, 501))
    recorded = await events(db, event_type=ISSUED)
    assert len(recorded) == 500
    assert sorted(e.aggregate_version for e in recorded) == list(range(2, 502))
    got = await stub.GetDocumentSeries(pb.GetDocumentSeriesRequest(id=setup.series.id))
    assert got.document_series.next_number == 501
