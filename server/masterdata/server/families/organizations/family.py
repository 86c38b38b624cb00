"""What the organization family adds to the generic service: locks, cascades, flags.

Invariants that span rows of one organization (one primary GSTIN, one default
account, one active year, no overlapping years) are checked while holding the
organization's row lock (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite writers are
serialised anyway), so two concurrent writers cannot both pass the check. The
partial unique indexes stay as the last line of defence.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import select

from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.repositories.generic import ResourceRepository
from masterdata.server.resources.ids import parse_id
from masterdata.server.resources.listing import ListRequest
from masterdata.server.resources.standard import Resources, record_event
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.organization import OrganizationRow
from masterdata.server.storage.unit_of_work import UnitOfWork

M = TypeVar("M", bound=Message)


class FamilyResources(Resources):
    """Resources plus the helpers every organization resource needs."""

    def _list_scope(self, request: ListRequest) -> uuid.UUID | None:
        """Children are always listed per organization: organization_id is required."""
        if self.spec.parent is None:
            return None
        return parse_id(request.parent_id, self.spec.parent.field)

    async def _lock_organization(self, uow: UnitOfWork, key: uuid.UUID) -> OrganizationRow:
        """The organization row, locked: serialises the organization's invariants."""
        repository = ResourceRepository(uow.session, OrganizationRow, "organization")
        row: OrganizationRow = await repository.get(key, for_update=True)
        return row


class ExclusiveFlagResources(FamilyResources):
    """A child with a flag at most one live row per organization may carry.

    Setting the flag on one row clears it on the previous holder in the same
    transaction (with its own `updated` event), before the new row is written, so
    the partial unique index never sees two holders.
    """

    flag: str = ""

    async def _validate(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        org_id = candidate.get("organization_id")
        claims = candidate.get(self.flag) and not (existing and getattr(existing, self.flag))
        if claims and org_id is not None and not violations.violations:
            await self._lock_organization(uow, org_id)
            await self._clear_flag(uow, org_id, existing.id if existing is not None else None)

    async def _clear_flag(
        self, uow: UnitOfWork, org_id: uuid.UUID, keep: uuid.UUID | None
    ) -> list[Any]:
        """Clear the flag on every other live holder; returns the rows changed."""
        holders = await self._flag_holders(uow, org_id, keep)
        for row in holders:
            setattr(row, self.flag, False)
            self._touch(uow, row)
            record_event(uow, self.spec, row, "updated", [self.flag])
        async with translate_errors():
            await uow.session.flush()
        return holders

    async def _flag_holders(
        self, uow: UnitOfWork, org_id: uuid.UUID, other_than: uuid.UUID | None
    ) -> list[Any]:
        model = self.spec.model
        stmt = (
            select(model)
            .where(
                model.organization_id == org_id,
                getattr(model, self.flag).is_(True),
                model.delete_time.is_(None),
            )
            .with_for_update()
        )
        if other_than is not None:
            stmt = stmt.where(model.id != other_than)
        async with translate_errors():
            return list((await uow.session.execute(stmt)).scalars())

    async def _before_undelete(self, uow: UnitOfWork, row: Any) -> None:
        """A restored holder comes back without the flag when another row has it now."""
        await super()._before_undelete(uow, row)
        if getattr(row, self.flag):
            await self._lock_organization(uow, row.organization_id)
            if await self._flag_holders(uow, row.organization_id, row.id):
                setattr(row, self.flag, False)
