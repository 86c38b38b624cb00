"""An authenticated principal, whatever the credential was."""

from __future__ import annotations

from dataclasses import dataclass

READ = "masterdata.read"
WRITE = "masterdata.write"
ADMIN = "masterdata.admin"
SENSITIVE = "masterdata.sensitive"
ALL_SCOPES = frozenset({READ, WRITE, ADMIN, SENSITIVE})
#: Longest identity: created_by, updated_by and the event actor are VARCHAR(200).
MAX_IDENTITY_CHARS = 200


@dataclass(frozen=True)
class Principal:
    """`name` becomes created_by/updated_by and the event actor."""

    name: str
    scopes: frozenset[str]


def parse_scopes(value: object) -> frozenset[str]:
    """A space-separated string (OAuth 2 `scope`) or a list of strings."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list | tuple):
        return frozenset(str(item) for item in value)
    return frozenset()
