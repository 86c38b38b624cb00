"""LocationService: the standard methods plus BatchGetLocations."""

from __future__ import annotations

from masterdata.server.api.registration import ServiceRegistry
from masterdata.server.api.standard_methods import StandardMethods, bind_standard_methods
from masterdata.server.families.locations import LOCATION
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import Resources
from masterdata.v1 import location_pb2, location_pb2_grpc

#: The standard methods of LocationService (api/standard_methods.py).
LOCATION_METHODS = (
    StandardMethods(
        "location",
        create="CreateLocation",
        get="GetLocation",
        list="ListLocations",
        update="UpdateLocation",
        delete="DeleteLocation",
        undelete="UndeleteLocation",
        batch_get="BatchGetLocations",
    ),
)


class LocationServicer(location_pb2_grpc.LocationServiceServicer):
    """Every RPC is a generic standard method."""

    def __init__(self, locations: Resources) -> None:
        bind_standard_methods(self, location_pb2, [locations], LOCATION_METHODS)


def add_to_server(server: ServiceRegistry, runtime: Runtime) -> None:
    # Abstract to mypy: the standard methods are bound by name in __init__.
    servicer = LocationServicer(Resources(runtime, LOCATION))  # type: ignore[abstract]
    location_pb2_grpc.add_LocationServiceServicer_to_server(servicer, server.as_server())
