"""Quality parameters, and creating them from category templates.

ApplyParameterTemplates is one transaction: it locks the commodity (a concurrent
forced delete waits) and the templates (in id order, so two appliers cannot
deadlock), creates one parameter per template the commodity lacks, bumps those
templates' usage_count and records every change as an event. A template whose
parameter_name the commodity already has live is skipped and that parameter is
returned instead, so applying twice creates nothing the second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import func, literal, select

from masterdata.server.domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from masterdata.server.families.commodities.resources import CommodityChildResources
from masterdata.server.families.commodities.specs import PARAMETER_TEMPLATE, QUALITY_PARAMETER
from masterdata.server.repositories.generic import ResourceRepository
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.codec import codec_for
from masterdata.server.resources.idempotent import run_idempotent
from masterdata.server.resources.ids import parse_id
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import record_event
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.commodity import (
    CommodityRow,
    ParameterTemplateRow,
    QualityParameterRow,
)
from masterdata.server.storage.unit_of_work import UnitOfWork
from masterdata.v1 import commodity_pb2 as pb

MAX_TEMPLATES = 100
#: Columns a parameter takes over from its template.
COPIED = (
    "parameter_name",
    "parameter_type",
    "unit",
    "min_value",
    "max_value",
    "default_value",
    "is_mandatory",
    "display_order",
)


class QualityParameterResources(CommodityChildResources):
    """Quality parameters: the standard methods, SuggestParameters and ApplyParameterTemplates."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime, QUALITY_PARAMETER)
        self.templates = PARAMETER_TEMPLATE

    async def suggest(self, commodity_id: str, caller: Caller) -> list[pb.ParameterTemplate]:
        """Live templates of the commodity's category (case-insensitive), most used first."""
        key = parse_id(commodity_id, "commodity_id")
        t = ParameterTemplateRow
        async with self.runtime.db.read_session() as session:
            commodity = await ResourceRepository(session, CommodityRow, "commodity").get(key)
            stmt = (
                select(t)
                .where(
                    t.delete_time.is_(None),
                    # lower() on both sides: the same folding on either backend.
                    func.lower(t.category) == func.lower(literal(commodity.category)),
                )
                .order_by(t.usage_count.desc(), t.display_order, t.parameter_name, t.id)
                .limit(self.runtime.settings.max_page_size)
            )
            async with translate_errors():
                rows = list((await session.execute(stmt)).scalars())
        codec = codec_for(self.templates)
        messages = [codec.to_message(row, reveal=caller.sees_sensitive) for row in rows]
        return cast("list[pb.ParameterTemplate]", messages)  # the templates' codec makes them

    async def apply_templates(
        self, commodity_id: str, template_ids: Sequence[str], caller: Caller
    ) -> list[pb.QualityParameter]:
        """One parameter per template, in request order (see the module docstring)."""
        key = parse_id(commodity_id, "commodity_id")
        ids = _template_ids(template_ids)

        async def work(uow: UnitOfWork) -> pb.ApplyParameterTemplatesResponse:
            commodity = await self._live_commodity(uow, key)
            templates = await self._templates(uow, ids, commodity.category)
            rows = await self._create_missing(uow, key, [templates[i] for i in ids])
            messages = [self.codec.to_message(row, reveal=True) for row in rows]
            return pb.ApplyParameterTemplatesResponse(
                quality_parameters=cast("list[pb.QualityParameter]", messages)  # its codec's
            )

        reply = await run_idempotent(self.runtime, caller, pb.ApplyParameterTemplatesResponse, work)
        return list(reply.quality_parameters)

    async def _create_missing(
        self, uow: UnitOfWork, key: uuid.UUID, templates: list[ParameterTemplateRow]
    ) -> list[QualityParameterRow]:
        have = {row.parameter_name.lower(): row for row in await self._live_parameters(uow, key)}
        created, used, result = [], [], []
        for template in templates:
            row = have.get(template.parameter_name.lower())
            if row is None:
                values = {name: getattr(template, name) for name in COPIED}
                row = QualityParameterRow(commodity_id=key, **values, **self._audit(uow))
                uow.session.add(row)
                have[template.parameter_name.lower()] = row
                created.append(row)
                template.usage_count += 1
                self._touch(uow, template)
                used.append(template)
            result.append(row)
        async with self._unique_errors():
            await uow.session.flush()
        for row in created:
            self.record(uow, row, "created")
        for template in used:
            record_event(uow, self.templates, template, "updated", ["usage_count"])
        return result

    async def _live_commodity(self, uow: UnitOfWork, key: uuid.UUID) -> CommodityRow:
        repository = ResourceRepository(uow.session, CommodityRow, "commodity")
        row = await repository.get(key, for_update=True)
        if row.delete_time is not None:
            raise FailedPrecondition(f"commodity {key} is deleted", reason="PARENT_DELETED")
        return row  # type: ignore[no-any-return]

    async def _templates(
        self, uow: UnitOfWork, ids: list[uuid.UUID], category: str
    ) -> dict[uuid.UUID, ParameterTemplateRow]:
        """The templates by id, locked; every unknown, deleted or foreign one is named."""
        t = ParameterTemplateRow
        stmt = select(t).where(t.id.in_(ids)).order_by(t.id).with_for_update()
        async with translate_errors():
            found = {row.id: row for row in (await uow.session.execute(stmt)).scalars()}
        violations = [
            FieldViolation(f"template_ids[{i}]", f"template {id_} {problem[0]}", problem[1])
            for i, id_ in enumerate(ids)
            if (problem := _problem(found.get(id_), category)) is not None
        ]
        if violations:
            raise InvalidArgument("some templates cannot be applied", violations=violations)
        return found

    async def _live_parameters(self, uow: UnitOfWork, key: uuid.UUID) -> list[Any]:
        q = QualityParameterRow
        stmt = select(q).where(q.commodity_id == key, q.delete_time.is_(None))
        async with translate_errors():
            return list((await uow.session.execute(stmt)).scalars())


def _problem(row: ParameterTemplateRow | None, category: str) -> tuple[str, str] | None:
    """Why a template cannot be applied to a commodity of `category`, or None."""
    if row is None:
        return "does not exist", "NOT_FOUND"
    if row.delete_time is not None:
        return "is deleted", "DELETED"
    if row.category.lower() != category.lower():
        return f"is for category {row.category!r}, not {category!r}", "WRONG_CATEGORY"
    return None


def _template_ids(values: Sequence[str]) -> list[uuid.UUID]:
    """1-100 distinct UUIDs, or INVALID_ARGUMENT naming each bad entry."""
    if not 1 <= len(values) <= MAX_TEMPLATES:
        description = f"must name 1-{MAX_TEMPLATES} templates"
        raise InvalidArgument(
            f"template_ids {description}",
            violations=[FieldViolation("template_ids", description, "INVALID_COUNT")],
        )
    ids: list[uuid.UUID] = []
    violations: list[FieldViolation] = []
    for i, value in enumerate(values):
        try:
            key = parse_id(value, f"template_ids[{i}]")
        except InvalidArgument as error:
            violations.extend(error.violations)
            continue
        if key in ids:
            violations.append(FieldViolation(f"template_ids[{i}]", "is repeated", "DUPLICATE"))
        ids.append(key)
    if violations:
        raise InvalidArgument("template_ids has invalid entries", violations=violations)
    return ids
