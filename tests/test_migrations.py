"""Alembic migrations: up, down, up again on both backends, and no drift from the models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from support import make_settings

from masterdata.server.db import migrate
from masterdata.server.db.base import Base
from masterdata.server.db.engine import Database
from masterdata.server.db.migrate import SchemaNotCurrent

ALL_TABLES = {t.name for t in Base.metadata.sorted_tables}


@pytest.fixture
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(url of an empty database of the parametrised backend, admin url or '')."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}", ""
    admin = str(request.getfixturevalue("postgres_url"))
    base = make_url(admin)
    return base.set(database=f"{base.database}_scratch").render_as_string(False), admin


@pytest.fixture
async def scratch(scratch_url: tuple[str, str]) -> AsyncIterator[Database]:
    url, admin = scratch_url
    if admin:
        await _recreate(admin, url)
    db = Database.connect(make_settings(url))
    yield db
    await db.dispose()


async def _recreate(admin_url: str, url: str) -> None:
    name = make_url(url).database
    dsn = make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def tables(db: Database) -> set[str]:
    async with db.writer.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    return names - {"alembic_version"}


@pytest.mark.parametrize("scratch_url", ["sqlite", "postgres"], indirect=True)
async def test_upgrade_downgrade_upgrade(scratch: Database) -> None:
    with pytest.raises(SchemaNotCurrent, match="masterdata migrate"):
        await migrate.require_current(scratch.writer)
    await migrate.upgrade(scratch.writer)
    assert await tables(scratch) == ALL_TABLES
    await migrate.require_current(scratch.writer)
    await migrate.downgrade(scratch.writer, "base")
    assert await tables(scratch) == set()
    assert await migrate.current_revision(scratch.writer) is None
    await migrate.upgrade(scratch.writer)
    assert await tables(scratch) == ALL_TABLES
    assert await migrate.current_revision(scratch.writer) == migrate.head_revision()


@pytest.mark.parametrize("scratch_url", ["postgres"], indirect=True)
async def test_models_and_migrations_agree(scratch: Database) -> None:
    """A model change without a migration fails here (PostgreSQL reflects every index)."""
    await migrate.upgrade(scratch.writer)
    async with scratch.writer.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
        )
    assert diff == []
