"""asyncpg connections for single statements outside transactions: a deque, no more.

Reads by key and pages (rows.py) and one-statement writes (writes.py) run on asyncpg
directly, each on a pool of these: SQLAlchemy's AsyncConnection cost ~250 µs of CPU
per statement more (pool checkout, execution context, greenlet switches).

Why (measured alone: 20 callers on 4 connections, uvloop, a one-row SELECT): a fetch
through asyncpg's Pool cost 68-77 µs of CPU, through this 32-35 µs. The Pool's
release runs in a task of its own (asyncio.shield) under a timeout, resets the
connection and re-arms its idle timer: a single statement outside any transaction
leaves nothing to reset. A connection whose statement was cancelled (a deadline, a
cancelled call) goes back at once: asyncpg makes the next statement on it wait
until the server has acknowledged the cancellation.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from masterdata.server.domain.errors import DeadlineExceeded, Unavailable
from masterdata.server.storage.errors import pool_timeout, translate_errors

T = TypeVar("T")


@dataclass(frozen=True)
class Deadline:
    """When a transaction's caller gives up (time.monotonic()), None for never."""

    at: float | None

    def left(self) -> float | None:
        """A statement's timeout: the seconds left, at least a millisecond (a timeout of
        zero would wait forever)."""
        return None if self.at is None else max(0.001, self.at - time.monotonic())


class StatementPool:
    """Up to `size` connections to `dsn`, each opened when a statement finds none free."""

    def __init__(
        self,
        dsn: str,
        *,
        size: int,
        connect_timeout_s: float,
        pool_timeout_s: float,
        setup: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
    ) -> None:
        """`setup` runs on each new connection (type codecs)."""
        self._dsn = dsn
        self._size = size
        self._connect_timeout_s = connect_timeout_s
        self._pool_timeout_s = pool_timeout_s
        self._setup = setup
        self._idle: deque[asyncpg.Connection] = deque()
        #: Connections open or being opened.
        self._open = 0
        #: Callers waiting, oldest first: each is handed a connection, or None when a
        #: slot came free (a connection closed) for it to open one.
        self._waiters: deque[asyncio.Future[asyncpg.Connection | None]] = deque()
        self._closed = False

    async def fetch(self, sql: str, *arguments: Any, seconds_left: float | None) -> list[Any]:
        """The records of one statement (prepared once per connection), bounded by the
        caller's deadline: a deadline that passes cancels it in the server (asyncpg sends
        a cancel request), lock waits included."""
        return await self._on_connection(
            lambda connection: connection.fetch(sql, *arguments, timeout=seconds_left)
        )

    async def transaction(
        self,
        work: Callable[[asyncpg.Connection, Deadline], Awaitable[T]],
        seconds_left: float | None,
    ) -> T:
        """`work` in one transaction on one connection, which it passes the deadline to
        bound each of its statements by what is left of the caller's time."""
        deadline = Deadline(None if seconds_left is None else time.monotonic() + seconds_left)

        async def in_transaction(connection: asyncpg.Connection) -> T:
            async with connection.transaction():
                return await work(connection, deadline)

        return await self._on_connection(in_transaction)

    async def _on_connection(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """`work` on a connection of the pool, its driver errors in the domain's terms
        (a statement timeout: the caller's deadline passed)."""
        async with translate_errors():
            connection = self._idle.pop() if self._idle else None
            if connection is None or connection.is_closed():
                connection = await self._acquire(dead=connection)
            try:
                return await work(connection)
            except TimeoutError:
                raise DeadlineExceeded("the deadline passed before the database answered") from None
            finally:
                self._release(connection)

    def in_use(self) -> int:
        return self._open - len(self._idle)

    async def close(self) -> None:
        """Close the idle connections now, the busy ones when their statements end."""
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(_closing())
        idle, self._idle = self._idle, deque()
        self._open -= len(idle)
        await asyncio.gather(*(connection.close() for connection in idle))

    async def _acquire(self, dead: asyncpg.Connection | None) -> asyncpg.Connection:
        """A free connection, or a new one; `dead` is one the server or the network
        ended while it was idle."""
        if dead is not None:
            self._open -= 1
        while True:
            if self._closed:
                raise _closing()
            if self._idle:
                connection = self._idle.pop()
                if not connection.is_closed():
                    return connection
                self._open -= 1
                continue
            if self._open < self._size:
                return await self._connect()
            waiter: asyncio.Future[asyncpg.Connection | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(self._pool_timeout_s):
                    handed = await waiter
            except BaseException as error:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    self._hand_over(waiter.result())  # handed over as this caller gave up
                if isinstance(error, TimeoutError):
                    raise pool_timeout() from None
                raise
            if handed is not None:
                return handed

    async def _connect(self) -> asyncpg.Connection:
        self._open += 1
        try:
            connection = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout_s,
                command_timeout=60,
                server_settings={"timezone": "UTC"},
            )
            if self._setup is not None:
                await self._setup(connection)
        except BaseException:
            self._open -= 1
            self._hand_over(None)  # a waiter may open one in this caller's place
            raise
        return connection

    def _release(self, connection: asyncpg.Connection) -> None:
        if connection.is_closed():
            self._open -= 1
            self._hand_over(None)
        elif self._closed:
            self._open -= 1
            connection.terminate()
        else:
            self._hand_over(connection)

    def _hand_over(self, connection: asyncpg.Connection | None) -> None:
        """To the oldest waiter, else back to the idle ones (a free slot: nothing)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        if connection is not None:
            self._idle.append(connection)


async def decode_json(connection: asyncpg.Connection) -> None:
    """JSON documents as Python values, as SQLAlchemy's asyncpg dialect returns them
    (a `setup` for pools whose callers want them decoded)."""
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def _closing() -> Unavailable:
    return Unavailable("the server is shutting down", reason="SHUTTING_DOWN")
