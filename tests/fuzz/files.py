"""Import files: CSV and XLSX bytes, from well-formed with plausible rows to garbage.

The columns are the fields of the message a request imports (found in its
descriptor), so the files follow the contract without naming its fields.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from fuzz.values import integers_for, text_for, uuids
from fuzz.wellknown import JSON_TYPES, json_for

S = st.SearchStrategy
F = FieldDescriptor
Row = dict[str, Any]
_REQUIRED = ("name", "category")


def row_type(descriptor: Descriptor, depth: int = 2) -> Descriptor | None:
    """The message an import carries rows of: the first repeated message field within reach."""
    for field in descriptor.fields:
        nested = field.message_type
        if nested is None or not nested.full_name.startswith("masterdata."):
            continue
        if field.is_repeated:
            return nested
        found = row_type(nested, depth - 1) if depth > 1 else None
        if found is not None:
            return found
    return None


def _cell(field: FieldDescriptor, tame: bool) -> S[Any]:
    """What a spreadsheet user types for a field; numbers sometimes as numbers."""
    if field.name == "id":
        return st.just("") if tame else st.one_of(st.just(""), uuids(), st.just("not-a-uuid"))
    if field.message_type is not None:
        if field.message_type.full_name in JSON_TYPES:
            docs = json_for("google.protobuf.Struct", tame).map(json.dumps)
            return docs if tame else st.one_of(docs, st.sampled_from(("{", "[]", "null", "")))
        return st.sampled_from(("", "2025-04-01", "x"))
    if field.type == F.TYPE_BOOL:
        yes_no = ("true", "false", "yes", "no", "TRUE")
        return st.sampled_from(yes_no if tame else (*yes_no, "1", "maybe", ""))
    if field.type == F.TYPE_ENUM:
        names = tuple(v.name for v in field.enum_type.values)
        short = tuple(n.split("_", 2)[-1] for n in names)
        return st.sampled_from(short if tame else (*names, *short, "", "9999", "nope"))
    if field.type in (F.TYPE_INT32, F.TYPE_INT64):
        numbers = integers_for(64, True, tame)
        return st.one_of(numbers, numbers.map(str), st.just("1.5"))
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.one_of(st.floats(), st.floats().map(str))
    text = text_for(field.name, tame)
    if field.is_repeated:
        return st.lists(text, max_size=3, unique=True).map(";".join)
    return (
        st.one_of(text, text, st.floats(0, 100)) if field.name.endswith(("_pct", "_rate")) else text
    )


def rows(descriptor: Descriptor, tame: bool) -> S[tuple[list[str], list[Row]]]:
    """A header (the required columns and some others) and up to five rows."""
    optional = [f for f in descriptor.fields if f.name not in _REQUIRED]

    @st.composite
    def build(draw: st.DrawFn) -> tuple[list[str], list[Row]]:
        chosen = draw(st.lists(st.sampled_from(optional), max_size=8, unique=True))
        fields = [descriptor.fields_by_name[n] for n in _REQUIRED if n in descriptor.fields_by_name]
        fields += chosen
        body = draw(
            st.lists(st.fixed_dictionaries({f.name: _cell(f, tame) for f in fields}), max_size=5)
        )
        return [f.name for f in fields], body

    return build()


def _csv_text(header: list[str], body: list[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[row.get(name, "") for name in header] for row in body])
    return out.getvalue()


def csv_files(descriptor: Descriptor, tame: bool) -> S[bytes]:
    """Well-formed CSV (UTF-8, maybe a BOM), and broken ones: bad UTF-8, stray quotes,
    binary garbage, a header alone, nothing at all."""
    good = rows(descriptor, tame).map(lambda parts: _csv_text(*parts).encode())
    if tame:
        return good
    return st.one_of(
        good,
        good,
        good.map(lambda data: b"\xef\xbb\xbf" + data),
        good.map(lambda data: data + b'\n"unterminated,\xff\xfe\n'),
        good.map(lambda data: data.replace(b",", b"\x00", 1)),
        st.binary(max_size=200),
        st.sampled_from((b"", b"\n", b"name,category\n", b"name\r\nx\r\n", b"a" * 20_000)),
    )


def _xlsx(header: list[str], body: list[Row]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in body:
        cells = [row.get(name, "") for name in header]
        sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in cells])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _zip_of(member: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", member)
    return out.getvalue()


def _flip(data: bytes, at: int) -> bytes:
    at %= max(len(data), 1)
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :] if data else data


def xlsx_files(descriptor: Descriptor, tame: bool) -> S[bytes]:
    """A small valid workbook, and corrupt ones: truncated, bit-flipped, a zip of junk."""
    good = rows(descriptor, tame).map(lambda parts: _xlsx(*parts))
    if tame:
        return good
    return st.one_of(
        good,
        st.builds(lambda data, n: data[: n % max(len(data), 1)], good, st.integers(0, 10**6)),
        st.builds(_flip, good, st.integers(0, 10**6)),
        st.binary(max_size=100).map(_zip_of),
        st.binary(max_size=200),
        st.just(b"PK\x03\x04"),
    )
