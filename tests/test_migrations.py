"""Alembic migrations: up, down, up again on both backends, and no drift from the models."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import make_url
from support import make_settings

from masterdata.server.storage import migrate
from masterdata.server.storage.base import Base
from masterdata.server.storage.engine import Database
from masterdata.server.storage.migrate import SchemaNotCurrent
from masterdata.server.storage.models.commodity import SEARCH_TEXT, CommodityRow

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


#: Alembic cannot compare this index's expression (PostgreSQL reflects the `||`
#: chain with casts and nested parentheses); the next test checks it instead.
SEARCH_INDEX = "ix_commodities_search_trgm"


def _compared(obj: Any, name: str | None, kind: str, reflected: bool, other: Any) -> bool:
    return not (kind == "index" and name == SEARCH_INDEX)


@pytest.mark.parametrize("scratch_url", ["postgres"], indirect=True)
async def test_models_and_migrations_agree(scratch: Database) -> None:
    """A model change without a migration fails here (PostgreSQL reflects every index)."""
    await migrate.upgrade(scratch.writer)
    options = {"include_object": _compared}
    async with scratch.writer.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts=options), Base.metadata
            )
        )
    assert diff == []


@pytest.mark.parametrize("scratch_url", ["postgres"], indirect=True)
async def test_the_search_expression_is_the_trigram_index_expression(scratch: Database) -> None:
    """The migration's index serves SEARCH_TEXT, the expression SearchCommodities filters on."""
    await migrate.upgrade(scratch.writer)
    now = datetime.now(UTC)
    names = ["Cotton", *(f"Grain {i}" for i in range(2000))]
    rows = [{"name": n, "category": "Crop", "create_time": now, "update_time": now} for n in names]
    live = CommodityRow.delete_time.is_(None)
    query = select(CommodityRow.id).where(live, SEARCH_TEXT.like("%cotton%"))
    async with scratch.writer.begin() as conn:
        await conn.execute(insert(CommodityRow), rows)
    async with scratch.writer.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        # VACUUM moves the rows from the index's pending list (fast update) into it.
        await conn.exec_driver_sql("VACUUM ANALYZE commodities")
        await conn.exec_driver_sql("SET enable_seqscan = off")  # 2,001 rows: a scan is cheap
        sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join((await conn.exec_driver_sql(f"EXPLAIN {sql}")).scalars())
        definition = (
            await conn.exec_driver_sql(
                f"SELECT indexdef FROM pg_indexes WHERE indexname = '{SEARCH_INDEX}'"
            )
        ).scalar_one()
    assert "gin_pending_list_limit='256'" in definition  # searches read the whole list
    assert SEARCH_INDEX in plan, plan
