"""Run the real `masterdata` command as a subprocess, so tests see what operators see."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
#: Words in stderr that mean the listen port was taken between picking and binding.
_PORT_CLASH = ("cannot listen", "address already in use")
_handed_out: set[int] = set()


def masterdata_command() -> list[str]:
    """The installed console script, or the same entry point through this interpreter."""
    script = Path(sys.executable).parent / "masterdata"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from masterdata.cli import main; raise SystemExit(main())"]


def free_port() -> int:
    """A port nothing listens on now and that this test run has not handed out before."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def command_env(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment minus any stray MASTERDATA_* setting, plus the ones the test wants."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERDATA_")}
    env["MASTERDATA_DATABASE_URL"] = database_url
    env.update(extra or {})
    return env


@dataclass
class CommandResult:
    """A finished `masterdata` command."""

    returncode: int
    stdout: str
    stderr: str


async def run_masterdata(
    args: Sequence[str],
    database_url: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
) -> CommandResult:
    """Run a short `masterdata` command (migrate, a refused serve) to completion."""
    process = await asyncio.create_subprocess_exec(
        *masterdata_command(),
        *args,
        env=command_env(database_url, env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await process.communicate()
    finally:
        await _kill(process)
    assert process.returncode is not None
    return CommandResult(process.returncode, out.decode(), err.decode())


@dataclass
class ServerProcess:
    """A `masterdata serve` subprocess listening on 127.0.0.1:`port`."""

    process: asyncio.subprocess.Process
    port: int
    stderr_path: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        """Exit state and captured stderr, for assertion messages."""
        return f"masterdata serve (exit {self.process.returncode}) stderr:\n{self.stderr}"

    async def wait_serving(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Poll Health/Check("") until SERVING; fail early if the process dies."""
        deadline = time.monotonic() + timeout_s
        async with aio.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if self.process.returncode is not None:
                    raise AssertionError(f"server exited before serving; {self.describe()}")
                if await _is_serving(stub):
                    return
                if time.monotonic() > deadline:
                    raise AssertionError(f"not SERVING after {timeout_s}s; {self.describe()}")
                await asyncio.sleep(0.1)

    async def terminate(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGTERM, then wait for the exit code (killing it if it overstays)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(timeout_s):
                return await self.process.wait()
        except TimeoutError:
            await _kill(self.process)
            raise AssertionError(f"no exit {timeout_s}s after SIGTERM; {self.describe()}") from None

    async def kill(self) -> None:
        await _kill(self.process)


async def _is_serving(stub: health_pb2_grpc.HealthStub) -> bool:
    try:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
    except aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return False
        raise
    return reply.status == health_pb2.HealthCheckResponse.SERVING


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL a process that is still running and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def spawn_server(
    database_url: str, env: Mapping[str, str] | None = None, port: int | None = None
) -> ServerProcess:
    """Start `masterdata serve` without waiting for it (see wait_serving)."""
    port = free_port() if port is None else port
    fd, name = tempfile.mkstemp(prefix=f"masterdata-serve-{port}-", suffix=".log")
    with os.fdopen(fd, "wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *masterdata_command(),
            "serve",
            "--listen",
            f"127.0.0.1:{port}",
            env=command_env(database_url, env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    return ServerProcess(process, port, Path(name))


async def start_server(
    database_url: str, env: Mapping[str, str] | None = None, attempts: int = 3
) -> ServerProcess:
    """Spawn and wait until SERVING, retrying on a fresh port if the port was taken."""
    for attempt in range(1, attempts + 1):
        server = await spawn_server(database_url, env)
        try:
            await server.wait_serving()
            return server
        except AssertionError:
            await server.kill()
            clash = any(word in server.stderr.lower() for word in _PORT_CLASH)
            if not clash or attempt == attempts:
                raise
            server.stderr_path.unlink(missing_ok=True)
    raise AssertionError("unreachable")


@contextlib.asynccontextmanager
async def running_server(
    database_url: str, env: Mapping[str, str] | None = None
) -> AsyncIterator[ServerProcess]:
    """A serving `masterdata serve`; on exit SIGTERM it and require exit code 0."""
    server = await start_server(database_url, env)
    try:
        yield server
        code = await server.terminate()
        assert code == 0, server.describe()
    finally:
        await server.kill()
    server.stderr_path.unlink(missing_ok=True)
