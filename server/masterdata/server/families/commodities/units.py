"""ListUnits and ConvertQuantity: the domain catalogue, plus a commodity's standard weight."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from masterdata.server.domain.errors import NotFound
from masterdata.server.domain.units import Conversion, Unit, convert, units
from masterdata.server.resources.ids import parse_id
from masterdata.server.resources.runtime import Runtime
from masterdata.server.storage.errors import translate_errors
from masterdata.server.storage.models.commodity import CommodityRow


class UnitConversions:
    """Conversions need the database only to weigh packaging and count units."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.reader = runtime.db.autocommit_reader

    def list_units(self, dimension: str = "") -> list[Unit]:
        return units(dimension)

    async def convert(
        self, quantity: str, from_unit: str, to_unit: str, commodity_id: str = ""
    ) -> Conversion:
        weight = await self._standard_weight(commodity_id) if commodity_id else None
        return convert(quantity, from_unit, to_unit, weight)

    async def _standard_weight(self, commodity_id: str) -> Decimal | None:
        """The commodity's standard_weight_per_unit (a deleted commodity still has one)."""
        key = parse_id(commodity_id, "commodity_id")
        stmt = select(CommodityRow.standard_weight_per_unit).where(CommodityRow.id == key)
        async with translate_errors(), self.reader.connect() as conn:
            row = (await conn.execute(stmt)).one_or_none()
        if row is None:
            raise NotFound(
                f"commodity {key} does not exist",
                reason="COMMODITY_NOT_FOUND",
                metadata={"id": str(key)},
            )
        return row.standard_weight_per_unit  # type: ignore[no-any-return]
