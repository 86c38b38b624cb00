"""The yardstick of bench/cpu_per_call.py: a no-op grpc.aio server in a process of its own.

Its one unary method, /bench.Noop/Call, answers an empty message at once (bench/common.py
`noop_server`). It takes the channel options `masterdata serve` gives its server with
default settings (the bench's server runs with them), so what the service costs beyond it
is the service's own work, not gRPC's. It stays on asyncio's default event loop whatever
the server comes to use: the yardstick must not move with the thing it measures.

    python bench/noop_process.py     # prints "noop listening on port N", serves until killed
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import noop_server
from masterdata.server.app import _message_limits
from masterdata.server.config import Settings

START_TIMEOUT_S = 30.0
_LISTENING = re.compile(rb"noop listening on port (\d+)")


@dataclass(frozen=True)
class Noop:
    """A running no-op server: its process (whose CPU is read) and port."""

    pid: int
    port: int


@contextlib.asynccontextmanager
async def running_noop() -> AsyncIterator[Noop]:
    """Start this module as a process and wait until it listens; terminate it afterwards."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
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


async def serve() -> None:
    settings = Settings.load(environ={}, listen="127.0.0.1:0")
    options = [*settings.grpc_server_options(), *_message_limits(settings)]
    async with noop_server(options) as port:
        print(f"noop listening on port {port}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(serve())
