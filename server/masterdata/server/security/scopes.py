"""The one table of which scope each RPC needs.

Built from the service descriptors by the RPC's leading verb, so a new RPC with a
known verb is covered at once and one with an unknown verb fails at start-up
(and in tests) until it is classified here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

from google.protobuf.descriptor import FileDescriptor

from masterdata.server.security.identity import ADMIN, READ, WRITE

#: Leading verb of an RPC name -> the scope it needs.
VERB_SCOPES = {
    "Get": READ,
    "BatchGet": READ,
    "List": READ,
    "Search": READ,
    "Suggest": READ,
    "Convert": READ,
    "Export": READ,
    "Subscribe": READ,
    "Create": WRITE,
    "Update": WRITE,
    "Delete": WRITE,
    "Undelete": WRITE,
    "Activate": WRITE,
    "Next": WRITE,
    "RollOver": WRITE,
    "Apply": WRITE,
    "Import": WRITE,
    "Upload": WRITE,
}
#: Services anyone may call, authenticated or not: registered beside the contract, outside
#: the call boundary that applies this table. Reflection answers under both of its names
#: (api/reflection.py); tests/test_auth.py holds the server to this list.
OPEN_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    }
)
#: A destructive `force=true` delete needs this in addition to the method's scope.
FORCE_SCOPE = ADMIN

_VERB = re.compile("|".join(sorted(VERB_SCOPES, key=len, reverse=True)))


def build_table(files: Iterable[FileDescriptor]) -> MappingProxyType[str, str]:
    """`/package.Service/Method` -> scope, for every RPC of `files`."""
    table: dict[str, str] = {}
    for file in files:
        for service in file.services_by_name.values():
            for method in service.methods:
                match = _VERB.match(method.name)
                if match is None:
                    raise LookupError(f"no scope rule for {service.full_name}.{method.name}")
                table[f"/{service.full_name}/{method.name}"] = VERB_SCOPES[match.group()]
    return MappingProxyType(table)


def extra_scope(request: Any) -> str | None:
    """A scope the request itself demands (force deletes), beyond its method's."""
    return FORCE_SCOPE if getattr(request, "force", False) is True else None
