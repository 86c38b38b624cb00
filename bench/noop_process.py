"""The yardstick of bench/cpu_per_call.py: a no-op grpc.aio server in a process of its own.

Its one unary method, /bench.Noop/Call, answers an empty message at once (bench/common.py
`noop_server`). Given a database (`--database-url`), it also serves /bench.Noop/ReadRow:
one prepared `SELECT * FROM commodities WHERE id = $1` on one of ten asyncpg connections
(the id is the request's bytes, as text), answered with an empty message: the floor of
any call that reads one row, grpc.aio and asyncpg with nothing of the service between.
The connections are handed out by the least code that can (`Connections`), not by
asyncpg's Pool, whose acquire and release cost more than the statement. It takes
the channel options `masterdata serve` gives its server with default settings (the
bench's server runs with them), so what the service costs beyond it is the service's own
work, not gRPC's. It stays on asyncio's default event loop whatever
the server comes to use: the yardstick must not move with the thing it measures.

    python bench/noop_process.py [--database-url postgresql://…]
    # prints "noop listening on port N", serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import re
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from grpc import aio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import noop_server
from masterdata.server.app import _message_limits
from masterdata.server.config import Settings

START_TIMEOUT_S = 30.0
#: Connections ReadRow uses: the server's read pool's default size.
READ_CONNECTIONS = 10
READ_ROW = "SELECT * FROM commodities WHERE id = $1"
_LISTENING = re.compile(rb"noop listening on port (\d+)")


@dataclass(frozen=True)
class Noop:
    """A running no-op server: its process (whose CPU is read) and port."""

    pid: int
    port: int


@contextlib.asynccontextmanager
async def running_noop(database_url: str | None = None) -> AsyncIterator[Noop]:
    """Start this module as a process and wait until it listens; terminate it afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        *(["--database-url", database_url] if database_url else []),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(START_TIMEOUT_S):
            line = await process.stdout.readline()
        found = _LISTENING.match(line)
        if found is None:
            raise RuntimeError(f"the no-op server did not start: {line!r}")
        yield Noop(process.pid, int(found.group(1)))
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()


class Connections:
    """Idle connections in a deque; callers beyond them wait in line for the next."""

    def __init__(self, connections: list[asyncpg.Connection]) -> None:
        self._idle = collections.deque(connections)
        self._waiting: collections.deque[asyncio.Future[asyncpg.Connection]] = collections.deque()

    async def fetch(self, sql: str, *arguments: Any) -> list[Any]:
        if self._idle:
            connection = self._idle.pop()
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            connection = await waiter
        try:
            return await connection.fetch(sql, *arguments)
        finally:
            if self._waiting:
                self._waiting.popleft().set_result(connection)
            else:
                self._idle.append(connection)


def read_row(connections: Connections) -> Callable[[bytes, Any], Any]:
    """The ReadRow handler: one row by id, nothing made of it."""

    async def call(request: bytes, _context: aio.ServicerContext[Any, Any]) -> bytes:
        await connections.fetch(READ_ROW, uuid.UUID(request.decode()))
        return b""

    return call


async def serve(database_url: str | None) -> None:
    settings = Settings.load(environ={}, listen="127.0.0.1:0")
    options = [*settings.grpc_server_options(), *_message_limits(settings)]
    methods = {}
    if database_url:
        opened = [asyncpg.connect(database_url) for _ in range(READ_CONNECTIONS)]
        methods["ReadRow"] = read_row(Connections(list(await asyncio.gather(*opened))))
    async with noop_server(options, methods) as port:
        print(f"noop listening on port {port}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="asyncpg DSN: also serve /bench.Noop/ReadRow")
    asyncio.run(serve(parser.parse_args().database_url))
