"""Locations: the slice that proves the generic path."""

from __future__ import annotations

from masterdata.server.domain.locations import derive_location, validate_location
from masterdata.server.repositories.query import FieldKind, QueryField
from masterdata.server.resources.spec import ResourceSpec
from masterdata.server.storage.models.location import LocationRow
from masterdata.v1 import location_pb2

_M = LocationRow

LOCATION = ResourceSpec(
    name="location",
    message=location_pb2.Location,
    model=LocationRow,
    required=("name",),
    output_only=frozenset({"region"}),
    validate=validate_location,
    derive=derive_location,
    default_order="create_time",
    unique_fields={"uq_locations_place_id_live": "place_id"},
    query_fields={
        "name": QueryField(_M.name, FieldKind.STRING),
        "city": QueryField(_M.city, FieldKind.STRING),
        "state": QueryField(_M.state, FieldKind.STRING),
        "state_code": QueryField(_M.state_code, FieldKind.STRING),
        "region": QueryField(
            _M.region,
            FieldKind.ENUM,
            enum_prefix="REGION_",
            enum_values=frozenset(location_pb2.Region.keys()),
        ),
        "pincode": QueryField(_M.pincode, FieldKind.STRING),
        "country": QueryField(_M.country, FieldKind.STRING),
        "is_active": QueryField(_M.is_active, FieldKind.BOOLEAN),
        "create_time": QueryField(_M.create_time, FieldKind.TIMESTAMP),
    },
)
