"""How client commands print: protobuf JSON for scripts, rich tables for people, errors.

Tables are generic over any message: the columns are the fields set in at least one
row, in proto order, minus the bookkeeping every resource has (shown by `--json`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from masterdata.client import MasterdataError

#: Fields of every resource that tables leave out; `--json` shows them.
BOOKKEEPING = frozenset({"create_time", "update_time", "created_by", "updated_by", "etag"})
#: Widest list table, in columns; the rest is in `--json`.
MAX_COLUMNS = 8
#: Width of tables when stdout is not a terminal (rich would wrap at 80).
PIPE_WIDTH = 200


def console(stderr: bool = False) -> Console:
    """A rich console; wide and colourless when writing to a file or pipe."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, no_color=True, highlight=False)


def to_json(message: Message, *, indent: int | None = 2) -> str:
    """Proto3 JSON (lowerCamelCase names, as grpcurl prints), enums by name."""
    return json_format.MessageToJson(message, indent=indent, ensure_ascii=False)


def print_json(message: Message, *, indent: int | None = 2) -> None:
    print(to_json(message, indent=indent), flush=True)


def cell(message: Message, field: FieldDescriptor) -> str:
    """One field's value as table text: enums by name, dates ISO, the rest as JSON."""
    value = json_format.MessageToDict(message, preserving_proto_field_name=True).get(field.name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if field.message_type is not None and field.message_type.full_name == "google.type.Date":
        return "{year:04}-{month:02}-{day:02}".format(**{"year": 0, "month": 0, "day": 0, **value})
    return json.dumps(value, ensure_ascii=False)


def _set_fields(messages: Sequence[Message], descriptor: Descriptor) -> list[FieldDescriptor]:
    present = {field.name for message in messages for field, _ in message.ListFields()}
    return [f for f in descriptor.fields if f.name in present and f.name not in BOOKKEEPING]


def rows_table(messages: Sequence[Message], descriptor: Descriptor, title: str = "") -> Table:
    """One row per message, one column per field set in any of them."""
    columns = _set_fields(messages, descriptor)[:MAX_COLUMNS]
    table = Table(title=title or None, title_justify="left")
    for field in columns:
        table.add_column(field.name, overflow="fold")
    for message in messages:
        table.add_row(*(cell(message, field) for field in columns))
    return table


def record_table(message: Message) -> Table:
    """One message as a two-column field/value table (every field that is set)."""
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, _ in sorted(message.ListFields(), key=lambda pair: pair[0].number):
        table.add_row(field.name, cell(message, field))
    return table


def counts_table(title: str, rows: Iterable[tuple[str, Any]]) -> Table:
    """A small name/value table, such as an import summary; `title` heads its first column."""
    table = Table()
    table.add_column(title)
    table.add_column("", justify="right")
    for name, value in rows:
        table.add_row(name, str(value))
    return table


def error_text(error: MasterdataError) -> str:
    """The status, message and reason, then one line per bad field."""
    head = f"masterdata: {error.code.name}: {error.message}"
    if error.reason:
        head += f" (reason {error.reason})"
    lines = [head]
    for violation in error.violations:
        reason = f" [{violation.reason}]" if violation.reason else ""
        lines.append(f"  {violation.field}: {violation.description}{reason}")
    return "\n".join(lines)


def print_error(error: MasterdataError) -> None:
    print(error_text(error), file=sys.stderr, flush=True)
