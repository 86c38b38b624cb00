"""Helpers of the SDK tests: real proxies in front of real servers, fresh databases.

- `FlakyGrpcProxy` is a grpc.aio server that forwards unary calls to the real one and,
  for one method, answers UNAVAILABLE *after* the upstream call succeeded: the write
  happened and the client does not know, the case retries with a request_id are for.
- `TcpProxy` forwards raw TCP to a server port that can change (a restarted
  `masterdata serve` binds a new one), so a client keeps one target across restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from grpc import aio
from processes import run_masterdata

#: Metadata a proxy must not copy onto its own upstream call.
_HOP_HEADERS = ("grpc-", ":", "user-agent", "content-type", "te")


class FlakyGrpcProxy:
    """Forwards unary calls; the first `failures` calls of `method` end UNAVAILABLE."""

    def __init__(self, upstream: str, method: str, failures: int = 1) -> None:
        self.method = method
        self.failures = failures
        self.attempts: list[bytes] = []  # request bytes of every call of `method`
        self.port = 0
        self._upstream = aio.insecure_channel(upstream)
        self._server = aio.server()
        self._server.add_generic_rpc_handlers([_Handler(self)])

    async def __aenter__(self) -> FlakyGrpcProxy:
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._server.stop(0)
        await self._upstream.close()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def forward(self, method: str, request: bytes, context: aio.ServicerContext) -> bytes:
        metadata = tuple(
            (key, value)
            for key, value in context.invocation_metadata() or ()
            if not key.startswith(_HOP_HEADERS)
        )
        call = self._upstream.unary_unary(method)
        response: bytes = await call(request, metadata=metadata, timeout=context.time_remaining())
        if method == self.method:
            self.attempts.append(request)
            if self.failures > 0:
                self.failures -= 1
                await context.abort(grpc.StatusCode.UNAVAILABLE, "injected by FlakyGrpcProxy")
        return response


class _Handler(grpc.GenericRpcHandler):
    def __init__(self, proxy: FlakyGrpcProxy) -> None:
        self._proxy = proxy

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = details.method

        async def behaviour(request: bytes, context: aio.ServicerContext) -> bytes:
            return await self._proxy.forward(method, request, context)

        return grpc.unary_unary_rpc_method_handler(behaviour)  # raw bytes both ways


class TcpProxy:
    """127.0.0.1:`port` → 127.0.0.1:`upstream_port`; `retarget` and `cut` for restarts."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def retarget(self, upstream_port: int) -> None:
        """Send new connections to another port and drop the current ones."""
        self.upstream_port = upstream_port
        self.cut()

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        pipes = [_pipe(reader, up_writer), _pipe(up_reader, writer)]
        tasks = [asyncio.ensure_future(p) for p in pipes]
        self._tasks.update(tasks)
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
                self._tasks.discard(task)
            for w in (writer, up_writer):
                w.transport.abort()
                self._writers.discard(w)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


@contextlib.asynccontextmanager
async def fresh_database(
    backend: str, tmp_path: Any, postgres_url: str | None
) -> AsyncIterator[str]:
    """An empty database of this test's own: a SQLite file (migrated by the server at
    start-up) or a PostgreSQL database migrated by the real `masterdata migrate`."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / f'client-{uuid.uuid4().hex[:8]}.db'}"
        return
    assert postgres_url is not None
    # Here, not at the top: support needs the server's libraries, and tests/floor uses the
    # proxies above in a venv that holds only the client.
    from support import own_database

    async with own_database(postgres_url, "masterdata_client") as url:
        result = await run_masterdata(["migrate"], url)
        assert result.returncode == 0, result.stderr
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    """The backend of a process test and, for PostgreSQL, the session's server URL."""
    if request.param == "sqlite":
        return "sqlite", None
    return "postgres", str(request.getfixturevalue("postgres_url"))
