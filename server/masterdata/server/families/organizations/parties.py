"""Organizations, their GST registrations and bank accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.domain.organizations import code, mask_account_number
from masterdata.server.domain.tax_ids import embeds_pan, gstin_problem
from masterdata.server.families.organizations.family import ExclusiveFlagResources, FamilyResources
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.organization import GstRegistrationRow
from masterdata.server.storage.unit_of_work import UnitOfWork


class OrganizationResources(FamilyResources):
    """Organizations; Delete cascades to every child with `force` (spec.children)."""

    async def _validate(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        """A new PAN must still be embedded in every live GSTIN of the organization.

        The generic update holds the organization's row lock, and GSTIN writes
        take it too, so no registration can slip in between check and commit.
        """
        pan = code(candidate, "pan")
        if existing is None or not pan or pan == existing.pan:
            return
        stmt = select(GstRegistrationRow.gstin).where(
            GstRegistrationRow.organization_id == existing.id,
            GstRegistrationRow.delete_time.is_(None),
        )
        async with translate_errors():
            gstins = list((await uow.session.execute(stmt)).scalars())
        foreign = [g for g in gstins if not embeds_pan(g, pan)]
        if foreign:
            violations.add(
                "pan",
                f"{len(foreign)} live GST registration(s) such as {foreign[0]} embed another PAN",
                "GSTIN_PAN_MISMATCH",
            )


class GstRegistrationResources(ExclusiveFlagResources):
    """GSTINs: the PAN they embed must be the organization's; at most one primary."""

    flag = "is_primary"

    async def _validate(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        gstin, org_id = code(candidate, "gstin"), candidate.get("organization_id")
        changed = existing is None or gstin != existing.gstin
        if changed and org_id is not None and gstin and gstin_problem(gstin) is None:
            # Locked, so the organization's PAN cannot change under this check.
            pan = (await self._lock_organization(uow, org_id)).pan
            if pan and not embeds_pan(gstin, pan):
                violations.add(
                    "gstin",
                    f"characters 3-12 must be the organization's PAN {pan}",
                    "GSTIN_PAN_MISMATCH",
                )
        await super()._validate(uow, candidate, violations, existing)


class BankAccountResources(ExclusiveFlagResources):
    """Bank accounts: at most one default; account numbers masked for most callers."""

    flag = "is_default"

    async def _validate(
        self,
        uow: UnitOfWork,
        candidate: dict[str, Any],
        violations: ViolationCollector,
        existing: Any | None,
    ) -> None:
        # A client that read the masked number and sends the whole resource back
        # (empty update_mask) must not overwrite the real number with the mask.
        if existing is not None and code(candidate, "account_number") == mask_account_number(
            existing.account_number
        ):
            candidate["account_number"] = existing.account_number
        await super()._validate(uow, candidate, violations, existing)
