"""Financial years: never overlapping, one active per organization, kept once numbered."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from google.protobuf.message import Message
from sqlalchemy import select

from masterdata.server.domain.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    ViolationCollector,
)
from masterdata.server.families.organizations.family import FamilyResources
from masterdata.server.families.organizations.specs import DOCUMENT_SERIES
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.ids import parse_id
from masterdata.server.resources.standard import record_event
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.events import EventRow
from masterdata.server.storage.models.organization import DocumentSeriesRow, FinancialYearRow
from masterdata.server.storage.unit_of_work import UnitOfWork

NUMBER_ISSUED = "document_series.number_issued"
_Y = FinancialYearRow


class FinancialYearResources(FamilyResources):
    """Standard methods plus ActivateFinancialYear."""

    async def _validate(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        start, end = candidate.get("start_date"), candidate.get("end_date")
        org_id = candidate.get("organization_id")
        if violations.violations or start is None or end is None or org_id is None:
            return
        if existing is not None and (start, end) == (existing.start_date, existing.end_date):
            return
        # Under the organization's lock no other year of it can be written meanwhile.
        await self._lock_organization(uow, org_id)
        other = await self._overlapping(uow, org_id, start, end, existing)
        if other is not None:
            description = (
                f"overlaps financial year {other.id} ({other.start_date}..{other.end_date})"
            )
            violations.add("start_date", description, "FINANCIAL_YEAR_OVERLAP")
            violations.add("end_date", description, "FINANCIAL_YEAR_OVERLAP")

    async def _overlapping(
        self, uow: UnitOfWork, org_id: uuid.UUID, start: date, end: date, existing: Any | None
    ) -> FinancialYearRow | None:
        stmt = (
            select(_Y)
            .where(
                _Y.organization_id == org_id,
                _Y.delete_time.is_(None),
                _Y.start_date <= end,
                _Y.end_date >= start,
            )
            .order_by(_Y.start_date)
            .limit(1)
        )
        if existing is not None:
            stmt = stmt.where(_Y.id != existing.id)
        async with translate_errors():
            row: FinancialYearRow | None = (await uow.session.execute(stmt)).scalar_one_or_none()
        return row

    async def _before_delete(self, uow: UnitOfWork, row: Any, force: bool) -> None:
        """Refuse for the active year, a year with issued numbers, or live series."""
        if row.is_active:
            raise FailedPrecondition(
                f"financial year {row.id} is active; activate another year first",
                reason="FINANCIAL_YEAR_ACTIVE",
            )
        # Lock the year's series first: an in-flight NextDocumentNumber holds one of
        # them, so this waits for it and then sees its number_issued event.
        await self._live_children(uow, self.spec.children[0], row.id)
        if await numbers_issued(uow, row.id):
            raise FailedPrecondition(
                f"financial year {row.id} has issued document numbers and cannot be deleted",
                reason="NUMBERS_ISSUED",
            )
        await super()._before_delete(uow, row, force)

    async def _before_undelete(self, uow: UnitOfWork, row: Any) -> None:
        """A restored year is inactive and must not overlap a year created meanwhile."""
        await super()._before_undelete(uow, row)
        await self._lock_organization(uow, row.organization_id)
        row.is_active = False
        other = await self._overlapping(uow, row.organization_id, row.start_date, row.end_date, row)
        if other is not None:
            raise FailedPrecondition(
                f"financial year {row.id} would overlap financial year {other.id}",
                reason="FINANCIAL_YEAR_OVERLAP",
                metadata={"financial_year_id": str(other.id)},
            )

    async def activate(
        self, id_: str, etag: str, caller: Caller, *, organization_id: str = ""
    ) -> Message:
        """Make the year active and its predecessor inactive, atomically, with two events.

        `organization_id`, when given, must own the year (INVALID_ARGUMENT
        FINANCIAL_YEAR_OF_OTHER_ORGANIZATION otherwise).
        """
        key = parse_id(id_)
        owner = parse_id(organization_id, "organization_id") if organization_id else None

        async def work(uow: UnitOfWork) -> Message:
            row = await self._live_row_for_write(uow, key, etag)
            if owner is not None and owner != row.organization_id:
                raise other_organization("id", row.id, owner)
            if row.is_active:
                return self.codec.to_message(row, reveal=True)
            await self._lock_organization(uow, row.organization_id)
            await self._deactivate_others(uow, row)
            row.is_active = True
            self._touch(uow, row)
            return self.record(uow, row, "updated", ["is_active"])

        return await self._write_once(caller, work)

    async def _deactivate_others(self, uow: UnitOfWork, row: FinancialYearRow) -> None:
        stmt = (
            select(_Y)
            .where(
                _Y.organization_id == row.organization_id,
                _Y.is_active.is_(True),
                _Y.delete_time.is_(None),
                _Y.id != row.id,
            )
            .with_for_update()
        )
        async with translate_errors():
            previous = list((await uow.session.execute(stmt)).scalars())
        for old in previous:
            old.is_active = False
            self._touch(uow, old)
            record_event(uow, self.spec, old, "updated", ["is_active"])
        # Written before the new active year, so the partial unique index never
        # sees two active years.
        async with translate_errors():
            await uow.session.flush()


def other_organization(field: str, year_id: uuid.UUID, owner: uuid.UUID) -> InvalidArgument:
    """The error for a financial year that belongs to another organization."""
    return InvalidArgument(
        f"financial year {year_id} does not belong to organization {owner}",
        violations=[
            FieldViolation(
                field,
                "must be a financial year of the same organization",
                "FINANCIAL_YEAR_OF_OTHER_ORGANIZATION",
            )
        ],
    )


async def numbers_issued(uow: UnitOfWork, year_id: uuid.UUID) -> bool:
    """True once any series of the year, live or deleted, has issued a number.

    The event log is the record of issued numbers: a number_issued event is
    committed in the same transaction as the number itself.
    """
    series = select(DocumentSeriesRow.id).where(DocumentSeriesRow.financial_year_id == year_id)
    return await _has_issue_event(uow, series)


async def series_issued(uow: UnitOfWork, series_ids: Sequence[uuid.UUID]) -> bool:
    """True once one of these series has issued a number."""
    return await _has_issue_event(uow, list(series_ids))


async def _has_issue_event(uow: UnitOfWork, series: Any) -> bool:
    stmt = (
        select(EventRow.sequence)
        .where(
            EventRow.aggregate_type == DOCUMENT_SERIES.name,
            EventRow.aggregate_id.in_(series),
            EventRow.event_type == NUMBER_ISSUED,
        )
        .limit(1)
    )
    async with translate_errors():
        return (await uow.session.execute(stmt)).first() is not None
