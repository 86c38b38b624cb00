"""Schema migrations with Alembic: upgrade, downgrade and the "is it current?" check."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
_MIGRATION_LOG = logging.getLogger("alembic.runtime.migration")


class SchemaNotCurrent(RuntimeError):
    """The database is not at the migration head; the server refuses to serve it."""


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(sync), revision))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision, read quietly: a check is not a migration, and Alembic's
    INFO lines ("Context impl ...") would stand before a refusal's one line."""

    def read(sync: Connection) -> str | None:
        level = _MIGRATION_LOG.level
        _MIGRATION_LOG.setLevel(logging.WARNING)
        try:
            return MigrationContext.configure(sync).get_current_revision()
        finally:
            _MIGRATION_LOG.setLevel(level)

    async with engine.connect() as conn:
        return await conn.run_sync(read)


async def require_current(engine: AsyncEngine) -> None:
    """Raise SchemaNotCurrent with an operator-facing message unless at head."""
    current, head = await current_revision(engine), head_revision()
    if current != head:
        found = f"at revision {current}" if current else "not migrated"
        raise SchemaNotCurrent(
            f"the database is {found}; this server needs revision {head}. "
            "Run `masterdata migrate` (with the same MASTERDATA_DATABASE_URL) first."
        )
