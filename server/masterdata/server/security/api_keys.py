"""API keys: a file of `{name, sha256, scopes}` entries; only hashes are stored."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path

from masterdata.server.security.identity import Principal, parse_scopes


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


class ApiKeyStore:
    """Verifies bearer tokens against stored SHA-256 hashes in constant time."""

    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> ApiKeyStore:
        """Read a JSON list of {"name", "sha256" (hex), "scopes" (list or string)}."""
        raw = json.loads(path.read_text())
        if not isinstance(raw, list):
            raise ValueError(f"{path}: expected a JSON list of API keys")
        entries = []
        for item in raw:
            digest = bytes.fromhex(item["sha256"])
            if len(digest) != 32:
                raise ValueError(f"{path}: key {item.get('name')!r} needs a 64-hex-digit sha256")
            entries.append(_Entry(digest, Principal(item["name"], parse_scopes(item["scopes"]))))
        return cls(entries)

    def verify(self, token: str) -> Principal | None:
        """The key's principal, or None. Every entry is compared, so timing tells nothing."""
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.digest):
                found = entry.principal
        return found


def hash_key(token: str) -> str:
    """The sha256 hex digest to store for a new key (`masterdata` operators use this)."""
    return hashlib.sha256(token.encode()).hexdigest()
