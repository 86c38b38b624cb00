"""Settings from `MASTERDATA_*` environment variables, overridden by CLI flags."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./masterdata.db"


@dataclass(frozen=True)
class Settings:
    """Everything an operator can tune. Each field reads `MASTERDATA_<NAME>`."""

    #: SQLAlchemy URL: `sqlite+aiosqlite:///path.db` or `postgresql+asyncpg://...`.
    database_url: str = DEFAULT_DATABASE_URL
    #: host:port to listen on; port 0 picks a free port.
    listen: str = "127.0.0.1:50051"
    #: Connections per process kept open to PostgreSQL.
    pool_size: int = 10
    #: Extra connections allowed beyond pool_size under bursts.
    max_overflow: int = 10
    #: Seconds a call waits for a free connection before UNAVAILABLE.
    pool_timeout_s: float = 10.0
    #: Seconds to wait for a new database connection; an outage fails fast with UNAVAILABLE.
    connect_timeout_s: float = 5.0
    #: Seconds in-flight calls get to finish after SIGTERM.
    shutdown_grace_s: float = 10.0
    #: Seconds between database probes that drive the health status.
    health_interval_s: float = 2.0
    #: Default page size of List calls.
    default_page_size: int = 50
    #: Largest page size; larger requests are coerced to it.
    max_page_size: int = 1000
    #: Largest number of ids in one BatchGet call.
    max_batch_size: int = 1000
    #: Run migrations at start-up on SQLite (PostgreSQL is migrated with `masterdata migrate`).
    auto_migrate_sqlite: bool = True
    #: Log level name.
    log_level: str = "INFO"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then the environment, then explicit overrides (CLI flags, tests)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"MASTERDATA_{f.name.upper()}")
            if raw is not None:
                values[f.name] = _parse(raw, f.type)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return dataclasses.replace(cls(), **values)


def _parse(raw: str, type_name: Any) -> Any:
    kind = str(type_name)
    if kind == "bool":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    return raw
