"""Proto message <-> ORM column values, driven by the descriptor and the column types.

Written once for every resource: a field maps to the column of the same name, and
its conversion follows from the pair (proto field type, SQLAlchemy column type).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import TYPE_CHECKING, Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.type import date_pb2
from sqlalchemy import Numeric, String, Uuid, inspect

from masterdata.server.domain.descriptors import descriptor_of, enum_type_of, message_type_of
from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.storage.base import utc

if TYPE_CHECKING:
    from masterdata.server.resources.spec import ResourceSpec

#: Fields every resource has that the server owns.
STANDARD_OUTPUT_ONLY = frozenset(
    {"id", "create_time", "update_time", "delete_time", "created_by", "updated_by", "etag"}
)
#: The columns every row has that its standard fields are rendered from.
_AUDIT = ("id", "create_time", "update_time", "delete_time", "created_by", "updated_by", "revision")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ToColumn = Callable[[Any, str, ViolationCollector], Any]
ToProto = Callable[[Message, str, Any], None]


@cache
def codec_for(spec: ResourceSpec) -> MessageCodec:
    """The one codec of a resource spec (specs hash by identity)."""
    return MessageCodec(spec.message, spec.model, output_only=spec.output_only, masked=spec.masked)


def etag_of(revision: int) -> str:
    return f'W/"{revision}"'


def _text(value: Any) -> str:
    """A string field's text of a column value that is no str (a decimal, a UUID)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _set_time(target: Any, value: datetime) -> None:
    """`Timestamp.FromDatetime` without its time tuple (~3x faster)."""
    delta = utc(value) - _EPOCH
    target.seconds = delta.days * 86_400 + delta.seconds
    target.nanos = delta.microseconds * 1000


class MessageCodec:
    """Converts one resource message type to and from its ORM row."""

    def __init__(
        self,
        message_type: type[Message],
        model: type[Any],
        *,
        output_only: Iterable[str] = (),
        masked: Mapping[str, Callable[[str], str]] | None = None,
    ) -> None:
        self.message_type = message_type
        self.model = model
        self.descriptor = descriptor_of(message_type)
        self.output_only = STANDARD_OUTPUT_ONLY | frozenset(output_only)
        self.masked = dict(masked or {})
        columns = {c.key: c for c in inspect(model).columns}
        self.columns = columns
        self._to_column: dict[str, ToColumn] = {}
        #: How `render` sets each field that is not a standard one (see `_plan`).
        self._plain: list[str] = []
        self._text: list[str] = []
        self._enums: dict[str, dict[str, int]] = {}
        self._written: list[tuple[str, ToProto]] = []
        for field in self.descriptor.fields:
            column = columns.get(field.name)
            if column is None:
                continue
            if field.name not in STANDARD_OUTPUT_ONLY:
                self._plan(field)
            if field.name not in self.output_only:
                self._to_column[field.name] = _column_reader(field, column)
        #: The columns `render` reads.
        self.rendered = (
            *_AUDIT,
            *self._plain,
            *self._text,
            *self._enums,
            *(name for name, _ in self._written),
        )

    def _plan(self, field: FieldDescriptor) -> None:
        """Scalars, strings, enums and repeated scalars are constructor arguments (one
        call for all of them); documents, dates and timestamps are set afterwards."""
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            self._written.append((field.name, _proto_writer(field)))
        elif field.is_repeated:
            self._plain.append(field.name)
        elif field.type == FieldDescriptor.TYPE_ENUM:
            self._enums[field.name] = {v.name: v.number for v in enum_type_of(field).values}
        elif field.type == FieldDescriptor.TYPE_STRING:
            self._text.append(field.name)
        else:
            self._plain.append(field.name)

    @property
    def writable_fields(self) -> frozenset[str]:
        return frozenset(self._to_column)

    def populated_fields(self, message: Message) -> list[str]:
        """Writable fields set in `message` (presence, or non-default without it)."""
        return [f.name for f, _ in message.ListFields() if f.name in self._to_column]

    def to_values(
        self, message: Message, fields: Iterable[str], violations: ViolationCollector
    ) -> dict[str, Any]:
        """Column values for `fields`; conversion problems go to `violations`."""
        values: dict[str, Any] = {}
        for name in fields:
            values[name] = self._to_column[name](message, name, violations)
        return values

    def to_message(self, row: Any, *, reveal: bool = False) -> Message:
        """The message of a row read by attribute (each column read once)."""
        return self.render({name: getattr(row, name) for name in self.rendered}, reveal=reveal)

    def render(self, values: Mapping[str, Any], *, reveal: bool = False) -> Message:
        """The message of a row given as its column values (`rendered` at least).

        Why one constructor call: setting some forty fields one by one through
        generic writers cost ~4x as much (a write renders its row for the reply and
        the event, a read for the reply).
        """
        message = self.message_type(**self.scalar_kwargs(values))
        standard: Any = message  # every resource message has the STANDARD_OUTPUT_ONLY fields
        _set_time(standard.create_time, values["create_time"])
        _set_time(standard.update_time, values["update_time"])
        if values["delete_time"] is not None:
            _set_time(standard.delete_time, values["delete_time"])
        for name, write in self._written:
            value = values[name]
            if value is not None:
                write(message, name, value)
        if not reveal and self.masked:
            self.mask(message)
        return message

    def scalar_kwargs(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The constructor arguments of a row's message but its timestamps and message
        fields (`message_fields`): id, authors, etag, scalars, strings, enums, lists."""
        kwargs: dict[str, Any] = {
            "id": str(values["id"]),
            "created_by": values["created_by"],
            "updated_by": values["updated_by"],
            "etag": etag_of(values["revision"]),
        }
        for name in self._plain:
            value = values[name]
            if value is not None and value != []:
                kwargs[name] = value
        for name in self._text:
            value = values[name]
            if value is not None:
                kwargs[name] = value if type(value) is str else _text(value)
        for name, numbers in self._enums.items():
            value = values[name]
            if value and value in numbers:
                kwargs[name] = numbers[value]
        return kwargs

    @property
    def message_fields(self) -> tuple[str, ...]:
        """The message-typed fields `scalar_kwargs` leaves to its caller."""
        return tuple(name for name, _ in self._written)

    def mask(self, message: Message) -> Message:
        for name, mask in self.masked.items():
            value = getattr(message, name)
            if value:
                setattr(message, name, mask(value))
        return message


def _column_reader(field: FieldDescriptor, column: Any) -> ToColumn:
    read = _value_reader(field, column)
    if field.is_repeated or field.type == FieldDescriptor.TYPE_MESSAGE or not field.has_presence:
        return read
    # An unset optional scalar clears the column: NULL, or its default when NOT NULL.
    unset = None if column.nullable else getattr(column.default, "arg", None)

    def read_optional(message: Message, name: str, violations: ViolationCollector) -> Any:
        return read(message, name, violations) if message.HasField(name) else unset

    return read_optional


def _value_reader(field: FieldDescriptor, column: Any) -> ToColumn:
    column_type = column.type
    if field.is_repeated:
        return _repeated_reader(field)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return _message_reader(field)
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_reader(field)
    if field.type == FieldDescriptor.TYPE_STRING:
        if isinstance(column_type, Numeric):
            return _decimal_reader(column_type)
        if isinstance(column_type, Uuid):
            return _uuid_reader
        length = column_type.length if isinstance(column_type, String) else None
        return _string_reader(length)
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _float_reader
    return lambda message, name, _v: getattr(message, name)


def _string_reader(max_length: int | None) -> ToColumn:
    def read(message: Message, name: str, violations: ViolationCollector) -> str:
        value: str = getattr(message, name)
        # NUL was refused with the request (domain/text.py).
        if max_length is not None and len(value) > max_length:
            violations.add(name, f"must be at most {max_length} characters", "TOO_LONG")
        return value.strip()

    return read


def _decimal_reader(column_type: Numeric[Decimal]) -> ToColumn:
    precision, scale = column_type.precision, column_type.scale

    def read(message: Message, name: str, violations: ViolationCollector) -> Decimal | None:
        raw: str = getattr(message, name).strip()
        if not raw:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            violations.add(name, f"{raw[:40]!r} is not a decimal number", "INVALID_DECIMAL")
            return None
        if not value.is_finite() or len(raw) > 60:
            violations.add(name, "must be a finite decimal number", "INVALID_DECIMAL")
            return None
        exponent = value.as_tuple().exponent
        if scale is not None and isinstance(exponent, int) and -exponent > scale:
            violations.add(name, f"must have at most {scale} decimal places", "INVALID_DECIMAL")
        elif (
            precision is not None
            and scale is not None
            and abs(value) >= Decimal(10) ** (precision - scale)
        ):
            violations.add(name, "is too large", "INVALID_DECIMAL")
        elif scale is not None:
            # Stored at the column's scale, so a write's reply equals later reads ("5.00").
            value = value.quantize(Decimal(1).scaleb(-scale))
        return value

    return read


def _uuid_reader(message: Message, name: str, violations: ViolationCollector) -> uuid.UUID | None:
    raw: str = getattr(message, name)
    if not raw:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        violations.add(name, "must be a UUID", "INVALID_ID")
        return None


def _float_reader(message: Message, name: str, violations: ViolationCollector) -> float:
    value: float = getattr(message, name)
    if math.isnan(value) or math.isinf(value):
        violations.add(name, "must be a finite number", "INVALID_NUMBER")
    return value


def _enum_reader(field: FieldDescriptor) -> ToColumn:
    enum = enum_type_of(field)

    def read(message: Message, name: str, violations: ViolationCollector) -> str:
        number = getattr(message, name)
        value = enum.values_by_number.get(number)
        if value is None:
            violations.add(name, f"{number} is not a {enum.name} value", "INVALID_ENUM")
            return enum.values_by_number[0].name
        return value.name

    return read


def _message_reader(field: FieldDescriptor) -> ToColumn:
    full_name = message_type_of(field).full_name

    def read(message: Message, name: str, violations: ViolationCollector) -> Any:
        if not message.HasField(name):
            return None
        value = getattr(message, name)
        if full_name == "google.protobuf.Timestamp":
            return value.ToDatetime(tzinfo=UTC)
        if full_name == "google.type.Date":
            return _to_date(value, name, violations)
        return _to_json(value, name, violations)

    return read


def _to_json(value: Message, name: str, violations: ViolationCollector) -> Any:
    """The message as JSON; a Struct holding NaN or Infinity has none (ValueError)."""
    try:
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    except ValueError:
        violations.add(name, "must not hold NaN or Infinity (JSON has neither)", "INVALID_JSON")
        return None


def _to_date(value: date_pb2.Date, name: str, violations: ViolationCollector) -> date | None:
    try:
        return date(value.year, value.month, value.day)
    except ValueError:
        violations.add(name, "must be a complete, valid calendar date", "INVALID_DATE")
        return None


def _repeated_reader(field: FieldDescriptor) -> ToColumn:
    def read(message: Message, name: str, violations: ViolationCollector) -> Any:
        value = getattr(message, name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            return (
                dict(value.items())
                if not _map_of_messages(field)
                else {k: _to_json(v, name, violations) for k, v in value.items()}
            )
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            return [_to_json(v, name, violations) for v in value]
        return list(value)

    return read


def _map_of_messages(field: FieldDescriptor) -> bool:
    return message_type_of(field).fields_by_name["value"].type == FieldDescriptor.TYPE_MESSAGE


def _proto_writer(field: FieldDescriptor) -> ToProto:
    """The writer of a message-typed field (repeated too, and maps)."""
    return _repeated_writer if field.is_repeated else _message_writer(field)


def _message_writer(field: FieldDescriptor) -> ToProto:
    full_name = message_type_of(field).full_name

    def write(message: Message, name: str, value: Any) -> None:
        if value is None:
            return
        target = getattr(message, name)
        if full_name == "google.protobuf.Timestamp":
            _set_time(target, value)
        elif full_name == "google.type.Date":
            target.year, target.month, target.day = value.year, value.month, value.day
        elif full_name == "google.protobuf.Struct":
            struct_pb2.Struct.update(target, value)
        else:
            json_format.ParseDict(value, target)

    return write


def _repeated_writer(message: Message, name: str, value: Any) -> None:
    if not value:
        return
    target = getattr(message, name)
    if isinstance(value, dict):
        json_format.ParseDict({name: value}, message)
    elif value and isinstance(value[0], dict):
        for item in value:
            json_format.ParseDict(item, target.add())
    else:
        target.extend(value)
