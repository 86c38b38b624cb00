"""The six trade-term families as one table of ResourceSpecs.

Every family is the same resource shape (name, code, description, is_active) plus
a few columns of its own, so each is one row of `_TERM_TYPES`: its name, proto
message, ORM model, the extra fields callers may filter on, and an extra
validator. `term_spec` turns a row into a ResourceSpec; the servicer binds the
generic standard methods for every spec in `TRADE_TERM_SPECS`. A seventh family
is a model, a proto message (with its six RPCs) and one more row here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from sqlalchemy import Boolean, DateTime, Integer, Numeric, inspect

from masterdata.server.domain.descriptors import descriptor_of, enum_type_of
from masterdata.server.domain.errors import ViolationCollector
from masterdata.server.domain.trade_terms import (
    normalize_trade_term,
    validate_payment_term,
    validate_trade_term,
    validate_weightment_term,
)
from masterdata.server.repositories.query import FieldKind, QueryField
from masterdata.server.resources.spec import ResourceSpec, Validator
from masterdata.server.storage.models.trade_terms import (
    BargainTypeRow,
    DeliveryTermRow,
    PassingTermRow,
    PaymentTermRow,
    TradeTypeRow,
    WeightmentTermRow,
)
from masterdata.v1 import trade_terms_pb2 as pb

#: Filterable (and sortable) in every family; the contract documents these.
COMMON_QUERY_FIELDS = ("name", "code", "is_active", "create_time", "update_time")


@dataclass(frozen=True)
class TermType:
    """One trade-term family: what differs from the others, and nothing else."""

    name: str
    message: type[Message]
    model: type[Any]
    #: Family-specific columns callers may filter and sort on (kind inferred).
    query_fields: Sequence[str] = ()
    #: Rules beyond the shared ones (`validate_trade_term`).
    validate: Validator | None = None


_TERM_TYPES = (
    TermType("trade_type", pb.TradeType, TradeTypeRow),
    TermType("bargain_type", pb.BargainType, BargainTypeRow, ("requires_approval",)),
    TermType("passing_term", pb.PassingTerm, PassingTermRow, ("requires_quality_test",)),
    TermType(
        "weightment_term",
        pb.WeightmentTerm,
        WeightmentTermRow,
        ("weight_deduction_percent",),
        validate_weightment_term,
    ),
    TermType(
        "delivery_term",
        pb.DeliveryTerm,
        DeliveryTermRow,
        ("includes_freight", "includes_insurance"),
    ),
    TermType(
        "payment_term",
        pb.PaymentTerm,
        PaymentTermRow,
        (
            "days",
            "currency",
            "supports_multi_currency",
            "supports_letter_of_credit",
            "bank_charges_borne_by",
            "swift_required",
        ),
        validate_payment_term,
    ),
)


def term_spec(term: TermType) -> ResourceSpec:
    """The ResourceSpec of one family: shared columns, rules and unique indexes."""
    table = term.model.__tablename__
    names = (*COMMON_QUERY_FIELDS, *term.query_fields)
    return ResourceSpec(
        name=term.name,
        message=term.message,
        model=term.model,
        required=("name",),
        validate=_validator(term.validate),
        derive=normalize_trade_term,
        default_order="create_time",
        # Index names come from TradeTermMixin.__table_args__.
        unique_fields={f"uq_{table}_name_live": "name", f"uq_{table}_code_live": "code"},
        query_fields={name: query_field(term.message, term.model, name) for name in names},
    )


def query_field(message: type[Message], model: type[Any], name: str) -> QueryField:
    """A whitelist entry whose kind follows from the column type and the proto field.

    Enum columns hold full proto names, so the enum's values and common prefix
    (`BANK_CHARGE_BEARER_`) come from the descriptor and callers may write `BUYER`.
    """
    column = getattr(model, name)
    field = descriptor_of(message).fields_by_name[name]
    if field.type == FieldDescriptor.TYPE_ENUM:
        values = enum_type_of(field).values_by_name
        prefix = enum_type_of(field).values_by_number[0].name.removesuffix("UNSPECIFIED")
        return QueryField(column, FieldKind.ENUM, enum_prefix=prefix, enum_values=frozenset(values))
    return QueryField(column, _kind_of(inspect(model).columns[name].type))


def _kind_of(column_type: Any) -> FieldKind:
    kinds: Mapping[type, FieldKind] = {
        Boolean: FieldKind.BOOLEAN,
        Integer: FieldKind.INTEGER,
        Numeric: FieldKind.DECIMAL,
        DateTime: FieldKind.TIMESTAMP,
    }
    return next((k for t, k in kinds.items() if isinstance(column_type, t)), FieldKind.STRING)


def _validator(extra: Validator | None) -> Validator:
    if extra is None:
        return validate_trade_term

    def validate(values: Mapping[str, Any], violations: ViolationCollector) -> None:
        validate_trade_term(values, violations)
        extra(values, violations)

    return validate


TRADE_TERM_SPECS: tuple[ResourceSpec, ...] = tuple(term_spec(term) for term in _TERM_TYPES)
(
    TRADE_TYPE,
    BARGAIN_TYPE,
    PASSING_TERM,
    WEIGHTMENT_TERM,
    DELIVERY_TERM,
    PAYMENT_TERM,
) = TRADE_TERM_SPECS
