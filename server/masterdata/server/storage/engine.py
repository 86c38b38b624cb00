"""Async engines and session factories for SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from masterdata.server.config import Settings
from masterdata.server.storage.row_reads import AsyncpgRowReads, CoreRowReads, RowReads
from masterdata.server.storage.unusable import (
    first_connection_failed,
    sqlite_path_problem,
    supported_url,
)


@dataclass
class Database:
    """The engines of one process.

    SQLite allows one writer at a time, so writes go through a single-connection
    engine whose transactions start with BEGIN IMMEDIATE: writers queue in the pool
    (asynchronously) instead of failing with "database is locked", while readers use
    their own WAL connections. On PostgreSQL both roles share one pool.
    """

    reader: AsyncEngine
    writer: AsyncEngine
    #: Rows by id for Get and BatchGet (asyncpg directly on PostgreSQL).
    rows: RowReads

    def __post_init__(self) -> None:
        self.read_session = async_sessionmaker(self.reader, expire_on_commit=False)
        self.write_session = async_sessionmaker(self.writer, expire_on_commit=False)

    @cached_property
    def autocommit_reader(self) -> AsyncEngine:
        """The reader without BEGIN/ROLLBACK round trips on PostgreSQL (single SELECTs).

        SQLite keeps its local, cheap transaction.
        """
        if not self.is_postgres:
            return self.reader
        return self.reader.execution_options(isolation_level="AUTOCOMMIT")

    @property
    def dialect(self) -> str:
        return self.writer.dialect.name

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @classmethod
    def connect(cls, settings: Settings) -> Database:
        """The engines, no connection yet (see `open`); DatabaseUnusable for a bad URL."""
        url = supported_url(settings.database_url)
        if url.get_backend_name() == "sqlite":
            reader = _sqlite_engine(url, settings, 4)
            return cls(reader, _sqlite_engine(url, settings, 1, True), CoreRowReads(reader))
        engine = create_async_engine(
            url,
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout_s,
            pool_pre_ping=False,
            connect_args={
                "timeout": settings.connect_timeout_s,
                "command_timeout": 60,
                "server_settings": {"timezone": "UTC"},
            },
        )
        return cls(engine, engine, AsyncpgRowReads(url, settings))

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
        await self.rows.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def _sqlite_engine(url: Any, settings: Settings, size: int, immediate: bool = False) -> AsyncEngine:
    engine = create_async_engine(
        url,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=size,
        max_overflow=0,
        pool_timeout=settings.pool_timeout_s,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below issue BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=10000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


SessionFactory = async_sessionmaker[AsyncSession]
