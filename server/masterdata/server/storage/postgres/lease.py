"""A lease as a session-level advisory lock on a connection of its own.

PostgreSQL releases a session's advisory locks when the session ends, and a process
killed with SIGKILL ends its sessions at once (the kernel closes its sockets), so
a standby's next `pg_try_advisory_lock` takes over within one of its polls. The
connection is not from the pool: the lock lives as long as the session, and a
pooled connection would carry it off to other work. A holder cut off by the
network (no FIN) keeps the lock until PostgreSQL notices the dead peer
(tcp_keepalives_*); docs/relay.md says what that costs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

import asyncpg

log = logging.getLogger("masterdata.relay")

_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for `name`."""
    digest = hashlib.sha256(f"masterdata-lease:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AdvisoryLease:
    """`pg_try_advisory_lock(key)` held on one dedicated connection."""

    def __init__(self, dsn: str, name: str, connect_timeout_s: float) -> None:
        self._dsn = dsn
        self._key = lock_key(name)
        self._timeout = connect_timeout_s
        self._conn: asyncpg.Connection | None = None

    async def acquire(self) -> bool:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(self._dsn, timeout=self._timeout)
            got = await self._conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", self._key, timeout=self._timeout
            )
        except _ERRORS as error:
            log.warning("lease: database unreachable (%s)", error)
            await self.release()
            return False
        return bool(got)

    async def held(self) -> bool:
        if self._conn is None or self._conn.is_closed():
            return False
        try:
            # A session lock lasts as long as its session: an answer means it is still ours.
            await self._conn.fetchval("SELECT 1", timeout=self._timeout)
        except _ERRORS as error:
            log.warning("lease: lost its connection (%s)", error)
            await self.release()
            return False
        return True

    async def release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        with contextlib.suppress(*_ERRORS):
            await conn.close(timeout=self._timeout)
        if not conn.is_closed():
            conn.terminate()
