"""One suite, two backends: every storage-touching test runs on SQLite and PostgreSQL.

PostgreSQL comes from MASTERDATA_TEST_POSTGRES_URL (default the machine's `test`
database). Each session works in a database of its own, created from that URL and
dropped at the end, so runs never see each other's rows. Locally a missing
PostgreSQL skips its tests with a reason; MASTERDATA_REQUIRE_POSTGRES=1 (CI) fails.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import asyncpg
import pytest
from grpc import aio
from processes import run_masterdata
from sqlalchemy import delete, text
from support import make_settings, own_database, postgres_dsn, postgres_required

from masterdata.server.app import App, build
from masterdata.server.storage import migrate
from masterdata.server.storage.base import Base
from masterdata.server.storage.engine import Database

DEFAULT_PG_URL = "postgresql+asyncpg://root@127.0.0.1:5432/test"
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(scope="session")
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for this test session."""
    base = os.environ.get("MASTERDATA_TEST_POSTGRES_URL", DEFAULT_PG_URL)
    try:
        admin = await asyncpg.connect(postgres_dsn(base), timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        if postgres_required():
            pytest.fail(f"PostgreSQL is required but unreachable at {base}: {error}")
        pytest.skip(f"PostgreSQL unreachable at {base} ({error}); set it up or ignore")
    await admin.close()
    async with own_database(base, "masterdata_test") as url:
        yield url


@pytest.fixture
async def empty_postgres_url(postgres_url: str) -> AsyncIterator[str]:
    """A brand-new database next to the session one, so each test sees only its own rows."""
    async with own_database(postgres_url, "masterdata_own") as url:
        yield url


@pytest.fixture
async def migrated_postgres_url(empty_postgres_url: str) -> str:
    """An empty database migrated by the real `masterdata migrate` command."""
    result = await run_masterdata(["migrate"], empty_postgres_url)
    assert result.returncode == 0, result.stderr
    return empty_postgres_url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'masterdata.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
async def app(database_url: str) -> AsyncIterator[App]:
    """A migrated database and a running server on an ephemeral port."""
    settings = make_settings(database_url, health_interval_s=0.5)
    db = Database.connect(settings)
    await migrate.upgrade(db.writer)
    server = build(settings, db)
    await server.start()
    yield server
    await server.stop(0)


async def truncate_all(db: Database) -> None:
    async with db.writer.begin() as conn:
        if db.is_postgres:
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(delete(table))
            await conn.execute(text("DELETE FROM sqlite_sequence"))


@pytest.fixture
async def db(app: App) -> AsyncIterator[Database]:
    """The running server's database, emptied before the test."""
    await truncate_all(app.runtime.db)
    yield app.runtime.db


@pytest.fixture
async def channel(app: App, db: Database) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        yield channel
