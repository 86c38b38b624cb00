"""The database of one process: its backend's engines, session factories and row reads."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from masterdata.server.config import Settings
from masterdata.server.storage.backend import Backend, RowReads
from masterdata.server.storage.postgres import PostgresBackend
from masterdata.server.storage.sqlite import SQLiteBackend
from masterdata.server.storage.unusable import (
    first_connection_failed,
    sqlite_path_problem,
    supported_url,
)


def embedded(settings: Settings) -> bool:
    """Whether the database is a file this process embeds (SQLite) rather than a server.

    An embedded database has one writing process (no `--workers`), and the server
    migrates it itself at start-up; a database server is migrated by `masterdata
    migrate`, once, for every process that uses it.
    """
    return supported_url(settings.database_url).get_backend_name() == "sqlite"


@dataclass
class Database:
    """One backend (storage/sqlite.py or storage/postgres/) and the sessions on its engines.

    SQLite allows one writer at a time, so writes go through a single-connection
    engine whose transactions start with BEGIN IMMEDIATE, while readers use their
    own WAL connections. On PostgreSQL both roles share one pool.
    """

    backend: Backend

    def __post_init__(self) -> None:
        self.read_session = async_sessionmaker(self.reader, expire_on_commit=False)
        self.write_session = async_sessionmaker(self.writer, expire_on_commit=False)

    @property
    def reader(self) -> AsyncEngine:
        return self.backend.reader

    @property
    def writer(self) -> AsyncEngine:
        return self.backend.writer

    @property
    def rows(self) -> RowReads:
        """Rows by id for Get and BatchGet (asyncpg directly on PostgreSQL)."""
        return self.backend.rows

    @property
    def autocommit_reader(self) -> AsyncEngine:
        """The reader without BEGIN/ROLLBACK round trips of its own (single SELECTs)."""
        return self.backend.autocommit_reader

    @property
    def dialect(self) -> str:
        """The SQLAlchemy dialect's name, for tests and diagnostics (code asks the backend)."""
        return self.writer.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @classmethod
    def connect(cls, settings: Settings) -> Database:
        """The engines, no connection yet (see `open`); DatabaseUnusable for a bad URL."""
        url = supported_url(settings.database_url)
        if url.get_backend_name() == "sqlite":
            return cls(SQLiteBackend.connect(url, settings))
        return cls(PostgresBackend.connect(url, settings))

    @classmethod
    async def open(cls, settings: Settings) -> Database:
        """`connect`, then open one connection, so that a set-up mistake (no such
        database, server down, a SQLite directory missing) is a one-line
        DatabaseUnusable at start-up (storage/unusable.py), not a driver traceback."""
        db = cls.connect(settings)
        try:
            await db._first_connection(settings)
        except BaseException:
            await db.dispose()
            raise
        return db

    async def _first_connection(self, settings: Settings) -> None:
        url = self.writer.url
        if (problem := sqlite_path_problem(url)) is not None:
            raise problem
        try:
            async with self.writer.connect():
                pass
        except Exception as error:
            unusable = first_connection_failed(error, url, settings.connect_timeout_s)
            if unusable is None:
                raise
            raise unusable from error

    async def dispose(self) -> None:
        await self.backend.dispose()
