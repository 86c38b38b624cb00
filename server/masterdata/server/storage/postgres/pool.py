"""An asyncpg pool opened at first use, with the service's timeouts and errors.

One-statement writes (writes.py) run on asyncpg directly: measured with
bench/cpu_per_call.py, SQLAlchemy's AsyncConnection costs ~250 µs of CPU per
statement more (pool checkout, execution context, greenlet switches). Reads (rows.py)
have a leaner pool of their own (statement_pool.py).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
from sqlalchemy.engine import URL

from masterdata.server.domain.errors import DeadlineExceeded
from masterdata.server.storage.errors import pool_timeout, translate_errors


class LazyPool:
    """Up to `size` connections to `url`, opened at the first statement."""

    def __init__(
        self,
        url: URL,
        *,
        size: int,
        connect_timeout_s: float,
        pool_timeout_s: float,
        json_values: bool = True,
        open_all: bool = True,
    ) -> None:
        """`json_values`: JSON documents as Python values, else as their text;
        `open_all`: every connection at the first statement, else each when needed."""
        self._json_values = json_values
        self._open_all = open_all
        self._dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._size = size
        self._connect_timeout_s = connect_timeout_s
        self._pool_timeout_s = pool_timeout_s
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def fetch(self, sql: str, *arguments: Any, seconds_left: float | None) -> list[Any]:
        """The records of one prepared statement, bounded by the caller's deadline.

        A deadline that passes cancels the statement in the server (asyncpg sends a
        cancel request), lock waits included: no statement of its own sets the timeouts.
        """
        pool = self._pool or await self._open()
        # A free or not yet opened slot is taken at once; only a full pool needs the
        # timeout, whose timer would cost every other call a task switch.
        free = pool.get_idle_size() or pool.get_size() < pool.get_max_size()
        try:
            conn = await pool.acquire(timeout=None if free else self._pool_timeout_s)
        except TimeoutError:
            raise pool_timeout() from None
        try:
            async with translate_errors():
                return await conn.fetch(sql, *arguments, timeout=seconds_left)
        except TimeoutError:
            raise DeadlineExceeded("the deadline passed before the database answered") from None
        finally:
            await pool.release(conn)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def in_use(self) -> int:
        pool = self._pool
        return 0 if pool is None else pool.get_size() - pool.get_idle_size()

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    # Opened whole at the first statement (in parallel), so no later
                    # call waits for a connection to be set up; or one by one.
                    min_size=self._size if self._open_all else 0,
                    max_size=self._size,
                    timeout=self._connect_timeout_s,
                    command_timeout=60,
                    server_settings={"timezone": "UTC"},
                    init=decode_json if self._json_values else None,
                    reset=_keep_session,
                )
        return self._pool


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """No reset query on release: these connections run single statements outside
    any transaction block, which leave no session state behind, and asyncpg's
    default reset is a round trip."""


async def decode_json(conn: asyncpg.Connection) -> None:
    """JSON documents as Python values, as SQLAlchemy's asyncpg dialect returns them."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
