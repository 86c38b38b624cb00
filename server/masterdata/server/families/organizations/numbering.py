"""NextDocumentNumber: unique, gap-free numbers from the active year's series.

Why it is gap-free and unique across processes: a number is taken by one
`UPDATE document_series SET next_number = next_number + 1 ... RETURNING` (the
locking path here; calls served together take theirs by one write at the revision
read, or after `SELECT ... FOR UPDATE`: batching.py), which
holds the series' row lock until the transaction ends. Concurrent callers, in any
server process, queue on that lock; under READ COMMITTED PostgreSQL re-reads the
row after the wait, so each sees the previous caller's committed increment (SQLite
writers are serialised by BEGIN IMMEDIATE). The number_issued event and the
idempotency record commit in that same transaction, so a call that fails or is
rolled back consumes nothing, and the next caller gets the same number instead.

The active year is read by the same statement (a subquery evaluated when it
starts). A call racing ActivateFinancialYear may still take its number from the
year that was active when it started; that year cannot be deleted meanwhile,
because DeleteFinancialYear locks the year's series rows before checking for
issued numbers, and a series deleted meanwhile fails the UPDATE's own
`delete_time IS NULL`, which PostgreSQL re-checks after the lock wait.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import BindParameter, bindparam, select, update

from masterdata.server.domain.document_numbers import (
    document_type_problem,
    financial_year_label,
    format_document_number,
    normalise_document_type,
    parse_issue_date,
)
from masterdata.server.domain.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
)
from masterdata.server.families.organizations.specs import DOCUMENT_SERIES
from masterdata.server.repositories.generic import ResourceRepository
from masterdata.server.resources.ids import parse_id
from masterdata.server.resources.standard import record_event
from masterdata.server.storage.engine import Database
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.organization import (
    DocumentSeriesRow,
    FinancialYearRow,
    OrganizationRow,
)
from masterdata.server.storage.unit_of_work import UnitOfWork
from masterdata.v1 import organization_pb2 as pb

#: Default issue date: the business day in India, where the numbered documents are.
KOLKATA = ZoneInfo("Asia/Kolkata")
_S, _Y = DocumentSeriesRow, FinancialYearRow


@dataclass(frozen=True)
class NumberRequest:
    """A validated NextDocumentNumber request."""

    organization_id: uuid.UUID
    document_type: str
    issue_date: date


def parse_number_request(
    organization_id: str, document_type: str, issue_date: tuple[int, int, int] | None
) -> NumberRequest:
    """Every malformed field at once; issue_date defaults to today in Asia/Kolkata."""
    violations: list[FieldViolation] = []
    org: uuid.UUID | None = None
    try:
        org = parse_id(organization_id, "organization_id")
    except InvalidArgument as error:
        violations.extend(error.violations)
    kind = normalise_document_type(document_type)
    problem = document_type_problem(kind) if kind else "is required"
    if problem:
        reason = "INVALID_DOCUMENT_TYPE" if kind else "REQUIRED"
        violations.append(FieldViolation("document_type", problem, reason))
    try:
        day = parse_issue_date(*issue_date) if issue_date else datetime.now(KOLKATA).date()
    except InvalidArgument as error:
        violations.extend(error.violations)
    if violations:
        raise InvalidArgument("the request has invalid fields", violations=violations)
    assert org is not None
    return NumberRequest(org, kind, day)


async def issue_number(uow: UnitOfWork, request: NumberRequest) -> pb.NextDocumentNumberResponse:
    """Take the next number of the active year's series and record number_issued.

    The event carries the series after the increment (next_number = number + 1), as
    every event carries its aggregate after the change.
    """
    series = await _take_number(uow, request)
    if series is None:
        await _explain_nothing_to_issue(uow, request)
    record_event(uow, DOCUMENT_SERIES, series, "number_issued")
    return number_reply(series, series.next_number - 1, request)


def number_reply(series: Any, number: int, request: NumberRequest) -> pb.NextDocumentNumberResponse:
    """The reply carrying `number` of `series` formatted (the series with its year's dates)."""
    document_number = format_document_number(
        number,
        prefix=series.prefix,
        suffix=series.suffix,
        padding=series.padding,
        fy_label=financial_year_label(series.fy_start, series.fy_end),
        issue_date=request.issue_date,
    )
    return pb.NextDocumentNumberResponse(
        document_number=document_number,
        number=number,
        series_id=str(series.id),
        financial_year_id=str(series.financial_year_id),
    )


async def read_series(db: Database, request: NumberRequest, seconds_left: float | None) -> Any:
    """The active year's series as it is now, with the year's dates; None when there is
    none. Read without a lock: an optimistic write checks its revision."""
    async with translate_errors():
        found = await db.rows.select(READ_SERIES, series_params(request), seconds_left)
    return found[0] if found else None


def series_params(request: NumberRequest) -> dict[str, Any]:
    """The values of `READ_SERIES`' parameters."""
    return {"org": request.organization_id, "kind": request.document_type}


def _issue_statement() -> Any:
    """UPDATE ... RETURNING that takes a number: built once, executed with parameters.

    One statement: the active year is a subquery of the UPDATE,
    and its dates (for the {FY} token) come back through RETURNING.
    """
    return (
        update(_S.__table__)
        .where(*_ACTIVE_SERIES)
        .values(
            next_number=_S.next_number + 1,
            revision=_S.revision + 1,
            update_time=bindparam("now"),
            updated_by=bindparam("actor"),
        )
        .returning(*_S.__table__.c, *_YEAR_DATES)
    )


def _active_series() -> list[Any]:
    """The conditions naming the live, active series of a document type (`kind`) in
    the active year of an organization (`org`)."""
    org: BindParameter[Any] = bindparam("org")
    active_year = (
        select(_Y.id)
        .where(_Y.organization_id == org, _Y.is_active.is_(True), _Y.delete_time.is_(None))
        .scalar_subquery()
    )
    return [
        _S.organization_id == org,
        _S.financial_year_id == active_year,
        _S.document_type == bindparam("kind"),
        _S.delete_time.is_(None),
        _S.is_active.is_(True),
    ]


_ACTIVE_SERIES = _active_series()
_YEAR_OF = _Y.id == _S.financial_year_id
_YEAR_DATES = (
    select(_Y.start_date).where(_YEAR_OF).scalar_subquery().label("fy_start"),
    select(_Y.end_date).where(_YEAR_OF).scalar_subquery().label("fy_end"),
)
#: The active year's series of a document type, with the year's dates.
READ_SERIES = select(_S.__table__, *_YEAR_DATES).where(*_ACTIVE_SERIES)
#: The same, locked until the transaction ends (a batch that waits for the series).
LOCK_SERIES = READ_SERIES.with_for_update(of=_S.__table__)
_ISSUE = _issue_statement()


async def _take_number(uow: UnitOfWork, request: NumberRequest) -> Any:
    """The active year's series after `next_number + 1` (row-locked until commit), or
    None when there is nothing to take a number from."""
    params = {
        "org": request.organization_id,
        "kind": request.document_type,
        "now": uow.now,
        "actor": uow.actor,
    }
    async with translate_errors():
        # A Core statement on the session's connection: the ORM adds nothing here.
        connection = await uow.session.connection()
        return (await connection.execute(_ISSUE, params)).first()


async def _explain_nothing_to_issue(uow: UnitOfWork, request: NumberRequest) -> NoReturn:
    """NOT_FOUND organization, or FAILED_PRECONDITION naming what is missing."""
    org = request.organization_id
    stmt = select(_Y.id).where(
        _Y.organization_id == org, _Y.is_active.is_(True), _Y.delete_time.is_(None)
    )
    async with translate_errors():
        year_id = (await uow.session.execute(stmt)).scalar_one_or_none()
    if year_id is None:
        await ResourceRepository(uow.session, OrganizationRow, "organization").get(org)
        raise FailedPrecondition(
            f"organization {org} has no active financial year; activate one first",
            reason="NO_ACTIVE_FINANCIAL_YEAR",
            metadata={"organization_id": str(org)},
        )
    await _explain_missing_series(uow, request, year_id)


async def _explain_missing_series(
    uow: UnitOfWork, request: NumberRequest, year_id: uuid.UUID
) -> NoReturn:
    stmt = select(_S.id).where(
        _S.organization_id == request.organization_id,
        _S.financial_year_id == year_id,
        _S.document_type == request.document_type,
        _S.delete_time.is_(None),
    )
    async with translate_errors():
        inactive = (await uow.session.execute(stmt)).first() is not None
    metadata = {"document_type": request.document_type, "financial_year_id": str(year_id)}
    if inactive:
        raise FailedPrecondition(
            f"the {request.document_type} series of the active year is inactive",
            reason="DOCUMENT_SERIES_INACTIVE",
            metadata=metadata,
        )
    raise FailedPrecondition(
        f"the active financial year has no {request.document_type} series",
        reason="NO_DOCUMENT_SERIES",
        metadata=metadata,
    )
