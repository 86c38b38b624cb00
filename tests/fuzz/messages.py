"""Random, well-typed messages built from a descriptor alone.

Every field of every type gets a value strategy: scalars by type (with their
extremes), enums by number (unknown numbers included), maps, repeated fields,
oneofs, the well-known types, and strings by field name (fuzz/values.py and
fuzz/references.py). A type this module cannot build fails loudly instead of
being left out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

from fuzz import files, references, wellknown
from fuzz.contract import Rpc, message_class
from fuzz.values import floats_for, integers_for, text_for

S = st.SearchStrategy
F = FieldDescriptor
_INTEGERS = {
    F.TYPE_INT32: (32, True), F.TYPE_SINT32: (32, True), F.TYPE_SFIXED32: (32, True),
    F.TYPE_INT64: (64, True), F.TYPE_SINT64: (64, True), F.TYPE_SFIXED64: (64, True),
    F.TYPE_UINT32: (32, False), F.TYPE_FIXED32: (32, False),
    F.TYPE_UINT64: (64, False), F.TYPE_FIXED64: (64, False),
}  # fmt: skip
_UNKNOWN_ENUM_NUMBERS = (9999, -1, 2**31 - 1, -(2**31))
_MAX_DEPTH = 6


def _field_names(descriptor: Descriptor, depth: int = 2, prefix: str = "") -> list[str]:
    """Paths of a message's fields, nested ones dotted (for masks, filters, order_by)."""
    names = []
    for field in descriptor.fields:
        names.append(prefix + field.name)
        nested = field.message_type
        if depth > 1 and nested is not None and nested.full_name.startswith("masterdata."):
            names += _field_names(nested, depth - 1, f"{prefix}{field.name}.")
    return names


def _resources(descriptor: Descriptor) -> list[Descriptor]:
    return [
        f.message_type
        for f in descriptor.fields
        if f.message_type is not None and f.message_type.full_name.startswith("masterdata.")
    ]


@dataclass(frozen=True)
class Context:
    """What the strategies of one RPC's request need to know beyond the descriptor."""

    rpc: Rpc
    pools: references.Pools
    #: Only valid-looking values (so that calls pass validation and write).
    tame: bool
    #: Tame, but now and then one field hostile: deep paths meet odd values.
    spiked: bool = False
    #: Strategies built so far, by (message type, depth, tame, spiked): each built once.
    built: dict[tuple[str, int, bool, bool], S[Any]] = dataclasses.field(
        default_factory=dict, compare=False
    )

    @cached_property
    def kind(self) -> str | None:
        """The kind of row this RPC is about, by the longest kind named in it."""
        snake = "".join("_" + c.lower() if c.isupper() else c for c in self.rpc.name)
        matches = [k for k in self.pools.ids if f"_{k[:-1]}" in snake]
        return max(matches, key=len) if matches else None

    @cached_property
    def result_fields(self) -> list[FieldDescriptor]:
        """Fields of the resources the RPC answers with: what filters and orders name."""
        found = {f.name: f for r in _resources(self.rpc.response_type) for f in r.fields}
        return [found[name] for name in sorted(found)]

    @cached_property
    def hostile(self) -> Context:
        return dataclasses.replace(self, tame=False, spiked=False)

    @cached_property
    def request_paths(self) -> list[str]:
        """Field paths of the resources in the request: what a FieldMask names."""
        return sorted({n for r in _resources(self.rpc.request_type) for n in _field_names(r)})


def _string(field: FieldDescriptor, ctx: Context) -> S[str]:
    name = field.name
    tame = ctx.tame
    if name == "request_id":
        return references.request_ids(tame)
    if references.is_reference(name):
        stem = name.removesuffix("s").removesuffix("_id")
        preferred = ctx.kind if stem in ("id", "parent") else ctx.pools.kind_of(stem)
        return references.ids(ctx.pools, preferred, tame)
    special = {
        "etag": lambda: references.etags(tame),
        "page_token": lambda: references.page_tokens(ctx.pools, tame),
        "filter": lambda: references.filters(ctx.result_fields, ctx.pools, tame),
        "order_by": lambda: references.orderings([f.name for f in ctx.result_fields], tame),
    }.get(name)
    return special() if special else text_for(name, tame)


def _bytes(field: FieldDescriptor, ctx: Context) -> S[bytes]:
    row_type = files.row_type(ctx.rpc.request_type)
    if "csv" in field.name and row_type is not None:
        return files.csv_files(row_type, ctx.tame)
    if "xlsx" in field.name and row_type is not None:
        return files.xlsx_files(row_type, ctx.tame)
    return st.binary(max_size=64)


def _scalar(field: FieldDescriptor, ctx: Context) -> S[Any]:
    kind = field.type
    if kind == F.TYPE_STRING:
        return _string(field, ctx)
    if kind == F.TYPE_BYTES:
        return _bytes(field, ctx)
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return floats_for(field.name, ctx.tame, 64 if kind == F.TYPE_DOUBLE else 32)
    if kind == F.TYPE_ENUM:
        numbers = tuple(v.number for v in field.enum_type.values)
        return st.sampled_from(numbers if ctx.tame else numbers + numbers + _UNKNOWN_ENUM_NUMBERS)
    if kind in _INTEGERS:
        return integers_for(*_INTEGERS[kind], tame=ctx.tame)
    raise NotImplementedError(f"no strategy for {field.full_name} (type {kind})")


def _value(field: FieldDescriptor, ctx: Context, depth: int) -> S[Any]:
    """A strategy of one value of the field (one element, if repeated)."""
    if field.message_type is None:
        return _scalar(field, ctx)
    return messages(field.message_type, ctx, depth + 1)


def field_values(field: FieldDescriptor, ctx: Context) -> S[Any]:
    """Values of one top-level field of a request (one element, if repeated)."""
    return _value(field, ctx, 0)


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _collection(field: FieldDescriptor, ctx: Context, depth: int) -> S[Any]:
    if _is_map(field):
        key, value = (
            field.message_type.fields_by_name["key"],
            field.message_type.fields_by_name["value"],
        )
        return st.dictionaries(_value(key, ctx, depth), _value(value, ctx, depth), max_size=4)
    many = st.lists(_value(field, ctx, depth), max_size=3 if ctx.tame else 5)
    if field.message_type is None and depth == 0 and not ctx.tame:
        # Over the documented batch limits (1000 ids, 100 types, ...), with short values.
        short = _value(field, dataclasses.replace(ctx, tame=True), depth)
        many = st.one_of(many, many, short.map(lambda v: [v] * 1001))
    return many


def _assign(message: Any, field: FieldDescriptor, value: Any) -> None:
    target = getattr(message, field.name)
    if _is_map(field):
        for key, item in value.items():
            if field.message_type.fields_by_name["value"].message_type is None:
                target[key] = item
            else:
                target[key].CopyFrom(item)
    elif field.is_repeated:
        if field.message_type is None:
            target.extend(value)
        else:
            for item in value:
                target.add().CopyFrom(item)
    elif field.message_type is None:
        setattr(message, field.name, value)
    else:
        target.CopyFrom(value)


def _special(descriptor: Descriptor, ctx: Context) -> S[Any] | None:
    """Well-known types, whose meaning a field-by-field walk would miss."""
    cls = message_class(descriptor)
    name = descriptor.full_name
    if name in wellknown.JSON_TYPES:

        def fill(value: Any) -> Any:
            message = cls()
            wellknown.set_json(message, value)
            return message

        return wellknown.json_for(name, ctx.tame).map(fill)
    if name in wellknown.PARTS_TYPES:
        return wellknown.PARTS_TYPES[name](ctx.tame).map(lambda parts: cls(**parts))
    if name == "google.protobuf.FieldMask":
        paths = references.mask_paths(ctx.request_paths, ctx.tame)
        return paths.map(lambda paths: cls(paths=paths))
    return None


def messages(descriptor: Descriptor, ctx: Context, depth: int = 0) -> S[Any]:
    """Messages of `descriptor`: each field set or not, each oneof on one member or none."""
    key = (descriptor.full_name, depth, ctx.tame, ctx.spiked)
    if key not in ctx.built:
        special = _special(descriptor, ctx)
        ctx.built[key] = _fields(descriptor, ctx, depth) if special is None else special
    return ctx.built[key]


def _fields(descriptor: Descriptor, ctx: Context, depth: int) -> S[Any]:
    cls = message_class(descriptor)
    if depth > _MAX_DEPTH:
        return st.just(cls())
    plain = [
        (f, _strategies(f, ctx, depth))
        for f in descriptor.fields
        if f.containing_oneof is None or _synthetic(f)
    ]
    choices = [
        st.sampled_from((None, *((f, _strategies(f, ctx, depth)) for f in oneof.fields)))
        for oneof in descriptor.oneofs
        if not _synthetic(oneof.fields[0])
    ]
    spikes = sum(1 for _, (_, hostile) in plain if hostile is not None)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        message = cls()
        spike = draw(st.integers(0, spikes)) if spikes else -1
        for field, (usual, hostile) in plain:
            if hostile is not None:
                spike -= 1
            if draw(st.booleans()):
                strategy = hostile if hostile is not None and spike == 0 else usual
                _assign(message, field, draw(strategy))
        for choice in choices:
            chosen = draw(choice)
            if chosen is not None:
                _assign(message, chosen[0], draw(chosen[1][0]))
        return message

    return build()


def _strategies(field: FieldDescriptor, ctx: Context, depth: int) -> tuple[S[Any], S[Any] | None]:
    """The field's values in this context, and (spiked only) its hostile values; nested
    resource messages are spiked inside rather than replaced whole."""
    make = _collection if field.is_repeated else _value
    nested = field.message_type
    inner = nested is not None and nested.full_name.startswith("masterdata.")
    if not ctx.spiked or (inner and not field.is_repeated):
        return make(field, ctx, depth), None
    return make(field, ctx, depth), make(field, ctx.hostile, depth)


def _synthetic(field: FieldDescriptor) -> bool:
    """A proto3 `optional` field sits in a oneof of its own that is not a real choice."""
    oneof = field.containing_oneof
    return oneof is not None and len(oneof.fields) == 1 and oneof.name == f"_{field.name}"
