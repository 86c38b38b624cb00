"""GetImportTemplate: the import header, an example row and instructions, as CSV or XLSX.

The CSV's instructions are comment rows after the example (a first cell starting
with "#" and nothing else), which the importer skips, so a filled-in template
imports as it is. The XLSX has them on a second sheet; only the first is read.
"""

from __future__ import annotations

import csv
import io
from typing import cast

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from masterdata.server.bulk.columns import BY_FIELD, COLUMNS, REQUIRED
from masterdata.server.domain.errors import FieldViolation, InvalidArgument
from masterdata.v1 import commodity_pb2 as pb

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXAMPLE = {
    "name": "Cotton",
    "category": "Fibre",
    "hsn_code": "52010010",
    "hs_code_6digit": "520100",
    "gst_rate": "5.00",
    "description": "Raw cotton, not carded or combed",
    "base_unit": "KG",
    "trade_unit": "CANDY",
    "rate_unit": "CANDY",
    "default_currency": "INR",
    "supported_currencies": "INR;USD",
    "international_pricing_unit": "POUND",
    "quality_standards": "ISO 8115",
    "major_producing_countries": "IN;US;CN",
    "trading_hubs": "Rajkot;Adoni",
    "traded_on_exchanges": "MCX;ICE",
    "price_volatility": "HIGH",
    "phytosanitary_required": "true",
    "seasonal_commodity": "true",
    "delivery_tolerance_pct": "2.00",
    "is_active": "true",
    "harvest_season": '{"India":{"start":"October","end":"March"}}',
    "standard_lot_size": '{"quantity":"100","unit":"BALE"}',
}
NOTES = {
    "id": "Leave empty to create. With mode UPSERT, the id of the commodity to update.",
    "name": "Required, up to 200 characters. With category, unique (case-insensitive).",
    "category": "Required, up to 100 characters, e.g. Fibre, Cereals, Pulses.",
    "hsn_code": "2, 4, 6 or 8 digits (a leading zero Excel dropped is restored).",
    "hs_code_6digit": "6 digits; the first 6 digits of the HSN code when both are set.",
    "gst_rate": "Percent, 0-100, up to 2 decimals.",
    "standard_weight_per_unit": "KG per bale, bag or piece, greater than 0.",
    "price_volatility": "LOW, MEDIUM, HIGH or VERY_HIGH.",
    "shelf_life_days": "Whole number of days, 0-36500; empty if it does not perish.",
    "is_active": "true/false (yes/no); true when empty.",
}
_KIND_NOTES = {
    "list": "Several values separated by ';'.",
    "json": 'A JSON object, e.g. {"key": "value"}.',
    "boolean": "true/false (yes/no); false when empty.",
    "decimal": "A decimal number.",
}
_UNIT_NOTE = "A unit code from ListUnits (KG, QUINTAL, CANDY, BALE, ...)."
_GENERAL = (
    "One commodity per row; the first row is the header (names or field names, any order).",
    "Empty cells take the default; lists are separated by ';'; JSON columns hold objects.",
    "Rows whose first cell starts with '#' are comments and are skipped.",
)


def note(field: str) -> str:
    """The instruction for one column."""
    if field in NOTES:
        return NOTES[field]
    if field.endswith("_unit"):
        return _UNIT_NOTE
    return _KIND_NOTES.get(BY_FIELD[field].kind.value, "Text.")


def template(fmt: int) -> pb.GetImportTemplateResponse:
    """The template file in `fmt` (CSV when unspecified)."""
    if fmt not in pb.FileFormat.values():
        raise InvalidArgument(
            f"{fmt} is not a FileFormat",
            violations=[FieldViolation("format", "not a FileFormat", "INVALID_ENUM")],
        )
    if fmt == pb.FILE_FORMAT_XLSX:
        return pb.GetImportTemplateResponse(
            content=_xlsx(), filename="commodities_template.xlsx", content_type=XLSX_TYPE
        )
    return pb.GetImportTemplateResponse(
        content=_csv(), filename="commodities_template.csv", content_type="text/csv"
    )


def _csv() -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in COLUMNS])
    writer.writerow([EXAMPLE.get(c.field, "") for c in COLUMNS])
    for line in _GENERAL:
        writer.writerow([f"# {line}"])
    for column in COLUMNS:
        writer.writerow([f"# {column.header} ({column.field}): {note(column.field)}"])
    return out.getvalue().encode()


def _xlsx() -> bytes:
    book = Workbook()
    sheet = cast(Worksheet, book.active)  # a new workbook's one sheet, a worksheet
    sheet.title = "Commodities"
    sheet.append([c.header for c in COLUMNS])
    sheet.append([EXAMPLE.get(c.field) or None for c in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for index in range(1, len(COLUMNS) + 1):
        # Text columns: Excel keeps what is typed (HSN 0401 stays 0401, not 401).
        sheet.column_dimensions[get_column_letter(index)].number_format = "@"
    notes = book.create_sheet("Instructions")
    notes.append(["Column", "Field", "Required", "Instructions"])
    for column in COLUMNS:
        required = "yes" if column.field in REQUIRED else ""
        notes.append([column.header, column.field, required, note(column.field)])
    notes.append([])
    for line in _GENERAL:
        notes.append([line])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
