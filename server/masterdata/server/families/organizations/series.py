"""Document series: standard methods and RollOverDocumentSeries."""

from __future__ import annotations

import uuid
from functools import cached_property
from typing import Any, cast

from sqlalchemy import select

from masterdata.server.domain.document_numbers import normalise_document_type
from masterdata.server.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    ViolationCollector,
)
from masterdata.server.families.organizations.batching import NumberBatcher
from masterdata.server.families.organizations.family import FamilyResources
from masterdata.server.families.organizations.numbering import (
    NumberRequest,
    issue_number,
    parse_number_request,
)
from masterdata.server.families.organizations.years import other_organization, series_issued
from masterdata.server.repositories.generic import ResourceRepository
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.idempotent import run_idempotent
from masterdata.server.resources.ids import parse_id
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.organization import DocumentSeriesRow, FinancialYearRow
from masterdata.server.storage.unit_of_work import UnitOfWork
from masterdata.v1 import organization_pb2 as pb

#: Copied into the new year by a rollover; next_number depends on reset_annually.
COPIED = ("document_type", "prefix", "suffix", "padding", "reset_annually", "is_active")
_S = DocumentSeriesRow


class DocumentSeriesResources(FamilyResources):
    """Series belong to an organization and to one of its financial years."""

    async def _validate(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        year_id, org_id = candidate.get("financial_year_id"), candidate.get("organization_id")
        if existing is not None:
            await self._check_update(uow, candidate, violations, existing)
        elif year_id is not None and org_id is not None and not violations.violations:
            year = await live_year(uow, year_id)
            if year.organization_id != org_id:
                violations.add(
                    "financial_year_id",
                    "must be a financial year of the same organization",
                    "FINANCIAL_YEAR_OF_OTHER_ORGANIZATION",
                )
        if not violations.violations and year_id is not None:
            await self._refuse_duplicate_type(uow, candidate, existing)

    async def _refuse_duplicate_type(
        self, uow: UnitOfWork, candidate: dict[str, Any], existing: Any | None
    ) -> None:
        """ALREADY_EXISTS naming document_type on both backends.

        The unique index is the last line of defence, but SQLite reports its
        columns rather than its name, which would name the wrong field.
        """
        kind = normalise_document_type(candidate.get("document_type") or "")
        stmt = select(_S.id).where(
            _S.financial_year_id == candidate["financial_year_id"],
            _S.organization_id == candidate.get("organization_id"),
            _S.document_type == kind,
            _S.delete_time.is_(None),
        )
        if existing is not None:
            stmt = stmt.where(_S.id != existing.id)
        async with translate_errors():
            clash = (await uow.session.execute(stmt.limit(1))).first()
        if clash is not None:
            raise AlreadyExists(
                f"the financial year already has a live {kind} series",
                field="document_series.document_type",
                reason="DUPLICATE_DOCUMENT_TYPE",
                metadata={"document_series_id": str(clash.id)},
            )

    async def _check_update(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any,
    ) -> None:
        """The year is immutable; next_number too once the series has issued a number."""
        if candidate.get("financial_year_id") != existing.financial_year_id:
            violations.add("financial_year_id", "cannot be changed", "IMMUTABLE")
        if candidate.get("next_number") != existing.next_number and await series_issued(
            uow, [existing.id]
        ):
            raise FailedPrecondition(
                f"document series {existing.id} has issued numbers; next_number is advanced "
                "only by NextDocumentNumber",
                reason="NUMBERS_ISSUED",
            )

    async def _before_undelete(self, uow: UnitOfWork, row: Any) -> None:
        await super()._before_undelete(uow, row)
        await live_year(uow, row.financial_year_id)

    async def next_number(
        self,
        organization_id: str,
        document_type: str,
        issue_date: tuple[int, int, int] | None,
        caller: Caller,
    ) -> pb.NextDocumentNumberResponse:
        """The next number of the active year's series (see numbering.py for why it is
        safe); concurrent calls of one series share a transaction (batching.py)."""
        request = parse_number_request(organization_id, document_type, issue_date)
        return await self._numbers.issue(request, caller)

    @cached_property
    def _numbers(self) -> NumberBatcher:
        return NumberBatcher(self.runtime, self._next_number_locked)

    async def _next_number_locked(
        self, request: NumberRequest, caller: Caller
    ) -> pb.NextDocumentNumberResponse:
        """One call in a transaction of its own that waits for the series' row lock: the
        path of a call the batcher cannot serve as it does the others (a stored
        request_id to replay, nothing to issue from and why, an error)."""

        async def work(uow: UnitOfWork) -> pb.NextDocumentNumberResponse:
            return await issue_number(uow, request)

        reply = pb.NextDocumentNumberResponse
        return await run_idempotent(self.runtime, caller, reply, work)

    async def roll_over(
        self,
        organization_id: str,
        from_year_id: str,
        to_year_id: str,
        caller: Caller,
    ) -> pb.RollOverDocumentSeriesResponse:
        """Copy every live series of one year into another (reset ones restart at 1)."""
        org, source, target = _parse_ids(organization_id, from_year_id, to_year_id)

        async def work(uow: UnitOfWork) -> pb.RollOverDocumentSeriesResponse:
            return await self._roll_over(uow, org, source, target)

        reply = pb.RollOverDocumentSeriesResponse
        return await run_idempotent(self.runtime, caller, reply, work)

    async def _roll_over(
        self, uow: UnitOfWork, org: uuid.UUID, source: uuid.UUID, target: uuid.UUID
    ) -> pb.RollOverDocumentSeriesResponse:
        organization = await self._lock_organization(uow, org)
        if organization.delete_time is not None:
            raise FailedPrecondition(f"organization {org} is deleted", reason="PARENT_DELETED")
        for field, year_id in (
            ("from_financial_year_id", source),
            ("to_financial_year_id", target),
        ):
            year = await live_year(uow, year_id, lock=True)
            if year.organization_id != org:
                raise other_organization(field, year.id, org)
        copies = self._copies(uow, await self._series_of(uow, source, lock=True), target)
        await self._refuse_clashes(uow, copies, target)
        uow.session.add_all(copies)
        async with self._unique_errors():
            await uow.session.flush()
        created = [self.record(uow, row, "created") for row in copies]
        return pb.RollOverDocumentSeriesResponse(
            document_series=cast("list[pb.DocumentSeries]", created)  # this spec's messages
        )

    def _copies(
        self, uow: UnitOfWork, originals: list[DocumentSeriesRow], target: uuid.UUID
    ) -> list[DocumentSeriesRow]:
        return [
            _S(
                **{name: getattr(old, name) for name in COPIED},
                organization_id=old.organization_id,
                financial_year_id=target,
                next_number=1 if old.reset_annually else old.next_number,
                extra_config=old.extra_config,
                **self._audit(uow),
            )
            for old in originals
        ]

    async def _series_of(
        self, uow: UnitOfWork, year_id: uuid.UUID, *, lock: bool = False
    ) -> list[DocumentSeriesRow]:
        """Live series of a year by document_type; locked so next_number is final."""
        stmt = (
            select(_S)
            .where(_S.financial_year_id == year_id, _S.delete_time.is_(None))
            .order_by(_S.document_type)
        )
        if lock:
            stmt = stmt.with_for_update()
        async with translate_errors():
            return list((await uow.session.execute(stmt)).scalars())

    async def _refuse_clashes(
        self, uow: UnitOfWork, copies: list[DocumentSeriesRow], target: uuid.UUID
    ) -> None:
        present = {row.document_type for row in await self._series_of(uow, target)}
        clashes = sorted(present & {row.document_type for row in copies})
        if clashes:
            raise AlreadyExists(
                f"financial year {target} already has series for {', '.join(clashes)}",
                field="to_financial_year_id",
                reason="DUPLICATE_DOCUMENT_TYPE",
                metadata={"document_types": ",".join(clashes)},
            )


async def live_year(uow: UnitOfWork, key: uuid.UUID, *, lock: bool = True) -> FinancialYearRow:
    """A live financial year, row-locked: NOT_FOUND, or FAILED_PRECONDITION when deleted.

    Locking it serialises series writes with DeleteFinancialYear, which locks the
    year first and then checks for live series.
    """
    repository = ResourceRepository(uow.session, FinancialYearRow, "financial_year")
    year: FinancialYearRow = await repository.get(key, for_update=lock)
    if year.delete_time is not None:
        raise FailedPrecondition(
            f"financial year {key} is deleted",
            reason="FINANCIAL_YEAR_DELETED",
            metadata={"financial_year_id": str(key)},
        )
    return year


def _parse_ids(*values: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """All three ids of a rollover, naming every malformed or equal one at once."""
    names = ("organization_id", "from_financial_year_id", "to_financial_year_id")
    parsed: list[uuid.UUID] = []
    violations: list[FieldViolation] = []
    for name, value in zip(names, values, strict=True):
        try:
            parsed.append(parse_id(value, name))
        except InvalidArgument as error:
            violations.extend(error.violations)
    if not violations and parsed[1] == parsed[2]:
        violations.append(
            FieldViolation(
                names[2], "must differ from from_financial_year_id", "SAME_FINANCIAL_YEAR"
            )
        )
    if violations:
        raise InvalidArgument("the rollover request has invalid fields", violations=violations)
    return parsed[0], parsed[1], parsed[2]
