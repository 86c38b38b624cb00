"""The one LISTEN connection of a process: PostgreSQL notifications wake the feed hub.

Notifications are hints, never data: the hub reads the table after each one, and
polls it anyway, so a notification lost while this connection was down costs at
most one poll interval. The connection is dedicated (not from the pool) because
LISTEN is per session and must outlive any single query.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger("masterdata.events")

#: Seconds between liveness pings of an idle LISTEN connection.
PING_INTERVAL_S = 10.0
#: Reconnect backoff bounds (seconds); each failure doubles it, with jitter.
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.2, 5.0


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq-style DSN for asyncpg.connect()."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


class PostgresListener:
    """LISTEN on `channel`, call `on_notify` per notification, reconnect on failure.

    `on_notify` is also called after every (re)connect: anything committed while
    the connection was down is then read at once instead of at the next poll.
    """

    def __init__(
        self,
        dsn: str,
        channel: str,
        on_notify: Callable[[], None],
        *,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._on_notify = on_notify
        self._connect_timeout_s = connect_timeout_s
        self.connected = False
        self.reconnects = 0

    async def run(self) -> None:
        """Keep a LISTEN connection open until cancelled."""
        backoff = BACKOFF_MIN_S
        while True:
            try:
                await self._listen_once()
                backoff = BACKOFF_MIN_S
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
                log.warning("event LISTEN connection failed (%s); retrying", e)
            self.reconnects += 1
            await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    async def _listen_once(self) -> None:
        conn = await asyncpg.connect(self._dsn, timeout=self._connect_timeout_s)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self._channel, self._notified)
            self.connected = True
            self._on_notify()
            await self._watch(conn, lost)
        finally:
            self.connected = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1.0)
            if not conn.is_closed():
                conn.terminate()

    async def _watch(self, conn: asyncpg.Connection, lost: asyncio.Event) -> None:
        """Return when the connection is gone; a ping finds a silently dead one."""
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), PING_INTERVAL_S)
                return
            await conn.execute("SELECT 1", timeout=self._connect_timeout_s)

    def _notified(self, *_args: Any) -> None:
        self._on_notify()
