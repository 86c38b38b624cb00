"""The resource services of CommodityService: the generic path plus what is special.

Special: children are listed per commodity only; Undelete of a commodity restores
the children its forced Delete took with it; a commission structure's trade type
must exist and be live.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from masterdata.server.domain.errors import (
    FieldViolation,
    InvalidArgument,
    ViolationCollector,
)
from masterdata.server.families.commodities.specs import (
    COMMISSION_STRUCTURE,
    COMMODITY,
)
from masterdata.server.resources.listing import ListRequest
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import Resources
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.trade_terms import TradeTypeRow
from masterdata.server.storage.unit_of_work import UnitOfWork


class CommodityResources(Resources):
    """Commodities; a forced delete is undone together with its cascade (the spec's
    `undelete_restores_children`)."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime, COMMODITY)


class CommodityChildResources(Resources):
    """A child of a commodity: its List requires commodity_id (the proto says so)."""

    def _list_scope(self, request: ListRequest) -> uuid.UUID | None:
        if not request.parent_id:
            raise InvalidArgument(
                "commodity_id is required",
                violations=[FieldViolation("commodity_id", "is required", "REQUIRED")],
            )
        return super()._list_scope(request)


class CommissionStructureResources(CommodityChildResources):
    """Commission structures: trade_type_id, when set, names a live trade type."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime, COMMISSION_STRUCTURE)

    async def _check_parent(
        self, uow: UnitOfWork, candidate: Any, violations: ViolationCollector
    ) -> None:
        # Before the generic parent check, which raises on the violations so far:
        # a bad trade type is then named in the same BadRequest as bad fields.
        await self._check_trade_type(uow, candidate, violations, previous=None)
        await super()._check_parent(uow, candidate, violations)

    async def _validate(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        await super()._validate(uow, candidate, violations, existing)
        if existing is not None:
            await self._check_trade_type(uow, candidate, violations, existing.trade_type_id)

    async def _check_trade_type(
        self,
        uow: UnitOfWork,
        candidate: Any,
        violations: ViolationCollector,
        previous: uuid.UUID | None,
    ) -> None:
        """Only a new reference is checked: a stored one stays valid if it was deleted later."""
        key = candidate.get("trade_type_id")
        if key is None or key == previous:
            return
        # FOR SHARE: a concurrent delete of the trade type waits for this write.
        stmt = (
            select(TradeTypeRow.delete_time)
            .where(TradeTypeRow.id == key)
            .with_for_update(read=True)
        )
        async with translate_errors():
            found = (await uow.session.execute(stmt)).one_or_none()
        if found is None:
            violations.add("trade_type_id", f"trade type {key} does not exist", "NOT_FOUND")
        elif found.delete_time is not None:
            violations.add("trade_type_id", f"trade type {key} is deleted", "DELETED")


class ParameterTemplateResources(Resources):
    """Templates: nothing special beyond the family's base (usage_count is output only)."""
