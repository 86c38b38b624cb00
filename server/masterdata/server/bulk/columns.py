"""The columns of an import/export file: header names, value kinds, header matching.

A file's header is matched case-insensitively and in any order. Each column is
known by its display header (the template's, "GST Rate (%)") and by its Commodity
field name ("gst_rate"); both are compared after dropping everything but letters
and digits, so "gst rate", "GST_RATE" and "Gst-Rate" all name the same column.
The export's "Varieties" column (names of the commodity's varieties) is read too
(bulk/varieties.py). Any other header cell is unknown: the summary names it, or
with `strict` the header is refused.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.descriptor import FieldDescriptor
from sqlalchemy import Integer, Numeric, String, Uuid, inspect

from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.server.resources.codec import STANDARD_OUTPUT_ONLY
from masterdata.server.storage.models.commodity import CommodityRow
from masterdata.v1 import commodity_pb2 as pb


class Kind(enum.Enum):
    """How a cell's text becomes a column value (and back, on export)."""

    TEXT = "text"
    CODE = "code"  # digits that Excel may have turned into a float (HSN 5201.0)
    DECIMAL = "decimal"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    ENUM = "enum"
    LIST = "list"
    JSON = "json"
    UUID = "uuid"


#: Field -> display header, in template and export order.
HEADERS: dict[str, str] = {
    "id": "ID",
    "name": "Name",
    "category": "Category",
    "hsn_code": "HSN Code",
    "hs_code_6digit": "HS Code (6 digit)",
    "gst_rate": "GST Rate (%)",
    "description": "Description",
    "base_unit": "Base Unit",
    "trade_unit": "Trade Unit",
    "rate_unit": "Rate Unit",
    "standard_weight_per_unit": "Standard Weight per Unit (kg)",
    "default_currency": "Default Currency",
    "supported_currencies": "Supported Currencies",
    "international_pricing_unit": "International Pricing Unit",
    "quality_standards": "Quality Standards",
    "major_producing_countries": "Major Producing Countries",
    "major_consuming_countries": "Major Consuming Countries",
    "trading_hubs": "Trading Hubs",
    "traded_on_exchanges": "Traded on Exchanges",
    "price_volatility": "Price Volatility",
    "phytosanitary_required": "Phytosanitary Required",
    "fumigation_required": "Fumigation Required",
    "seasonal_commodity": "Seasonal Commodity",
    "shelf_life_days": "Shelf Life (days)",
    "delivery_tolerance_pct": "Delivery Tolerance (%)",
    "weight_tolerance_pct": "Weight Tolerance (%)",
    "is_active": "Active",
    "country_tax_codes": "Country Tax Codes (JSON)",
    "international_grades": "International Grades (JSON)",
    "certification_required": "Certification Required (JSON)",
    "contract_specifications": "Contract Specifications (JSON)",
    "export_regulations": "Export Regulations (JSON)",
    "import_regulations": "Import Regulations (JSON)",
    "harvest_season": "Harvest Season (JSON)",
    "storage_conditions": "Storage Conditions (JSON)",
    "standard_lot_size": "Standard Lot Size (JSON)",
    "min_order_quantity": "Min Order Quantity (JSON)",
}
#: Extra spellings seen in real sheets.
ALIASES = {
    "hsn": "hsn_code",
    "hsncode8digit": "hsn_code",
    "gst": "gst_rate",
    "gstpercent": "gst_rate",
    "commodity": "name",
    "commodityname": "name",
    "active": "is_active",
    "shelflife": "shelf_life_days",
    "standardweightperunit": "standard_weight_per_unit",
}
REQUIRED = ("name", "category")
EXPORT_VARIETIES_HEADER = "Varieties"
_CODES = frozenset({"hsn_code", "hs_code_6digit"})
_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Column:
    """One importable column: its field, header, kind and limits."""

    field: str
    header: str
    kind: Kind
    max_length: int | None = None
    scale: int | None = None
    precision: int | None = None


def normalise(header: str) -> str:
    """The comparison form of a header: case-folded letters and digits only."""
    return _NOT_ALNUM.sub("", header.replace("\ufeff", "").casefold())


def _kind(field: FieldDescriptor, column_type: object) -> Kind:
    if field.name in _CODES:
        return Kind.CODE
    if field.is_repeated:
        return Kind.LIST
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return Kind.JSON
    if field.type == FieldDescriptor.TYPE_ENUM:
        return Kind.ENUM
    if field.type == FieldDescriptor.TYPE_BOOL:
        return Kind.BOOLEAN
    if isinstance(column_type, Numeric):
        return Kind.DECIMAL
    if isinstance(column_type, Integer):
        return Kind.INTEGER
    if isinstance(column_type, Uuid):
        return Kind.UUID
    return Kind.TEXT


def _columns() -> tuple[Column, ...]:
    """Every writable Commodity field plus id, typed from the proto and the model."""
    model_columns = {c.key: c for c in inspect(CommodityRow).columns}
    fields = pb.Commodity.DESCRIPTOR.fields_by_name
    writable = {n for n in fields if n in model_columns and n not in STANDARD_OUTPUT_ONLY}
    missing = (writable | {"id"}) ^ set(HEADERS)
    assert not missing, f"bulk HEADERS out of step with Commodity: {sorted(missing)}"
    result = []
    for name, header in HEADERS.items():
        column_type = model_columns[name].type
        numeric = column_type if isinstance(column_type, Numeric) else None
        result.append(
            Column(
                field=name,
                header=header,
                kind=_kind(fields[name], column_type),
                max_length=column_type.length if isinstance(column_type, String) else None,
                scale=numeric.scale if numeric else None,
                precision=numeric.precision if numeric else None,
            )
        )
    return tuple(result)


COLUMNS = _columns()
BY_FIELD = {c.field: c for c in COLUMNS}
_LOOKUP = {normalise(c.header): c for c in COLUMNS} | {normalise(c.field): c for c in COLUMNS}
_LOOKUP |= {alias: BY_FIELD[field] for alias, field in ALIASES.items()}
_VARIETIES = normalise(EXPORT_VARIETIES_HEADER)


@dataclass(frozen=True)
class Header:
    """A file's header resolved: (cell index, column) of every known column."""

    positions: tuple[tuple[int, Column], ...]
    #: The cell index of the Varieties column, if the file has one.
    varieties: int | None = None
    #: Header cells that name no column, as written (their cells are not read).
    unknown: tuple[str, ...] = ()

    @property
    def fields(self) -> frozenset[str]:
        return frozenset(c.field for _, c in self.positions)


def resolve_header(cells: Sequence[str], source: str, *, strict: bool = False) -> Header:
    """Match header cells to columns; INVALID_ARGUMENT names every problem at once.

    With `strict`, a header cell that names no column is one of the problems.
    """
    positions: list[tuple[int, Column]] = []
    seen: dict[str, str] = {}
    violations: list[FieldViolation] = []
    varieties: int | None = None
    unknown: list[str] = []
    for index, cell in enumerate(cells):
        key = normalise(cell)
        column = _LOOKUP.get(key)
        if column is None:
            if key == _VARIETIES and varieties is None:
                varieties = index
            elif key == _VARIETIES:
                description = f"two {EXPORT_VARIETIES_HEADER!r} columns"
                violations.append(FieldViolation(source, description, "DUPLICATE_COLUMN"))
            elif cell.strip():
                unknown.append(cell.strip())
            continue
        if column.field in seen:
            violations.append(
                FieldViolation(
                    source,
                    f"columns {seen[column.field]!r} and {cell.strip()!r} both mean {column.field}",
                    "DUPLICATE_COLUMN",
                )
            )
        seen[column.field] = cell.strip()
        positions.append((index, column))
    for field in REQUIRED:
        if field not in seen:
            violations.append(
                FieldViolation(
                    source,
                    f"the header has no {BY_FIELD[field].header!r} ({field}) column",
                    "MISSING_COLUMN",
                )
            )
    if strict:
        violations.extend(
            FieldViolation(source, f"{name[:100]!r} is not a column", "UNKNOWN_COLUMN")
            for name in unknown
        )
    if violations:
        raise InvalidArgument("the file's header is not an import header", violations=violations)
    return Header(tuple(positions), varieties, tuple(unknown))
