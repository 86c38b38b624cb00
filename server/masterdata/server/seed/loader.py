"""Loads the standard reference data through the service layer, idempotently.

Every record goes through the generic `Resources.create` of its spec, so
the seed obeys the same validation, audit columns and events as an API call.
Idempotence comes from the uniqueness rules themselves: a record whose unique
key (name or code of a trade term, (name, category) of a commodity, ...) is
already taken by a live row answers ALREADY_EXISTS, which rolls its transaction
back and counts as "already present". A second run therefore writes nothing and
records no events, and rows an operator has edited since are left alone. A
seeded row that was soft-deleted no longer counts, so a later seed recreates it.

Each record is its own transaction: an interrupted seed leaves whole records
behind, and running it again completes it.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from google.protobuf import json_format
from sqlalchemy import func

from masterdata.server.domain.errors import AlreadyExists, InvalidArgument, MasterdataError
from masterdata.server.families.trade_terms import TRADE_TERM_SPECS
from masterdata.server.repositories.generic import ResourceRepository
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.spec import ResourceSpec
from masterdata.server.resources.standard import Resources
from masterdata.server.seed.commodities_data import COMMODITIES, PARAMETER_TEMPLATES
from masterdata.server.seed.trade_terms_data import TRADE_TERMS

#: created_by/updated_by of seeded rows and actor of their events.
SEED_CALLER = Caller(identity="masterdata-seed", call_id="masterdata-seed")
#: Written by the other half of issue 4; the seed works without it (trade terms only).
COMMODITY_MODULE = "masterdata.server.families.commodities"


class SeedError(Exception):
    """A seed record the service rejected: a bug in the seed data, not in the database."""


@dataclass
class Tally:
    """What happened to the records of one resource type."""

    created: int = 0
    present: int = 0


@dataclass
class SeedReport:
    """Per resource type (in load order): records created and records already there."""

    tallies: dict[str, Tally] = field(default_factory=dict)
    #: Families that could not be seeded, with the reason.
    skipped: list[str] = field(default_factory=list)

    def tally(self, resource: str) -> Tally:
        return self.tallies.setdefault(resource, Tally())

    @property
    def created(self) -> int:
        return sum(t.created for t in self.tallies.values())

    def table(self) -> str:
        """The summary `masterdata seed` prints."""
        width = max([len("resource"), *map(len, self.tallies)])
        lines = [f"{'resource':<{width}}  {'created':>7}  {'present':>7}"]
        for name, t in self.tallies.items():
            lines.append(f"{name:<{width}}  {t.created:>7}  {t.present:>7}")
        present = sum(t.present for t in self.tallies.values())
        lines.append(f"{'total':<{width}}  {self.created:>7}  {present:>7}")
        lines.extend(f"skipped: {reason}" for reason in self.skipped)
        return "\n".join(lines)


async def seed_reference_data(runtime: Runtime) -> SeedReport:
    """Create every standard record that is not there yet; return what happened."""
    report = SeedReport()
    for spec in TRADE_TERM_SPECS:
        await ensure_all(Resources(runtime, spec), TRADE_TERMS.get(spec.name, []), report)
    services = commodity_services(runtime)
    if services is None:
        report.skipped.append(
            "parameter templates and commodities: CommodityService is not built yet"
        )
        return report
    templates, commodities, varieties = services
    await ensure_all(templates, PARAMETER_TEMPLATES, report)
    await _seed_commodities(commodities, varieties, report)
    return report


async def ensure_all(
    service: Resources, records: Sequence[Mapping[str, Any]], report: SeedReport
) -> None:
    for record in records:
        await ensure(service, record, report)


async def ensure(service: Resources, record: Mapping[str, Any], report: SeedReport) -> str:
    """Create `record` unless a live row holds its unique key; the new id, else ''."""
    spec = service.spec
    message = json_format.ParseDict(dict(record), spec.message())
    tally = report.tally(spec.name)
    try:
        created = await service.create(message, SEED_CALLER)
    except AlreadyExists:
        tally.present += 1
        return ""
    except InvalidArgument as error:
        details = "; ".join(f"{v.field} {v.description}" for v in error.violations)
        raise SeedError(f"{spec.name} {_label(record)}: {error.message}: {details}") from error
    except MasterdataError as error:
        raise SeedError(f"{spec.name} {_label(record)}: {error.message}") from error
    tally.created += 1
    return str(created.id)  # type: ignore[attr-defined]


async def _seed_commodities(
    commodities: Resources, varieties: Resources, report: SeedReport
) -> None:
    """Commodities, then their varieties under the new or the existing commodity."""
    for record in COMMODITIES:
        fields = {k: v for k, v in record.items() if k != "varieties"}
        commodity_id = await ensure(commodities, fields, report)
        commodity_id = commodity_id or await _live_commodity_id(commodities, fields)
        for variety in record.get("varieties", []):
            await ensure(varieties, {**variety, "commodity_id": commodity_id}, report)


async def _live_commodity_id(service: Resources, record: Mapping[str, Any]) -> str:
    """The id of the live commodity holding the (lower(name), category) key of `record`."""
    model = service.spec.model
    async with service.runtime.db.read_session() as session:
        rows = await ResourceRepository(session, model, service.spec.name).page(
            where=[
                func.lower(model.name) == record["name"].lower(),
                model.category == record["category"],
                model.delete_time.is_(None),
            ],
            order_by=[model.id],
            limit=1,
        )
    if not rows:
        raise SeedError(f"commodity {_label(record)} clashed, but no live row has its key")
    return str(rows[0].id)


def commodity_module() -> ModuleType | None:
    """The commodity specs' module, imported late: the seed must work before it exists."""
    try:
        module = importlib.import_module(COMMODITY_MODULE)
    except ImportError:
        return None
    specs = [getattr(module, n, None) for n in ("COMMODITY", "PARAMETER_TEMPLATE", "VARIETY")]
    return module if all(isinstance(s, ResourceSpec) for s in specs) else None


def commodity_services(
    runtime: Runtime,
) -> tuple[Resources, Resources, Resources] | None:
    """Template, commodity and variety services, as CommodityService's servicer uses them.

    The family's own service classes carry its hooks (decimal scales, ...); without
    them the generic service of each spec is used.
    """
    module = commodity_module()
    if module is None:
        return None
    build = getattr(getattr(module, "CommodityFamily", None), "build", None)
    if build is None:
        specs = (module.PARAMETER_TEMPLATE, module.COMMODITY, module.VARIETY)
        templates, commodities, varieties = (Resources(runtime, s) for s in specs)
        return templates, commodities, varieties
    family = build(runtime)
    return family.parameter_templates, family.commodities, family.varieties


def _label(record: Mapping[str, Any]) -> str:
    return repr(record.get("code") or record.get("name") or record.get("parameter_name") or "")
