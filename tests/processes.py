"""Run the real `masterdata` command as a subprocess, so tests see what operators see.

Servers listen on 127.0.0.1:0 and the port is read from their "listening on port N"
log line. Picking a free port here and passing it in would race: grpc binds with
SO_REUSEPORT, so if another process grabbed the port in between, both would bind it
silently and share its connections instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
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
#: The line `App.start` logs once the server is bound.
_LISTENING = re.compile(r"masterdata listening on port (\d+)")


def masterdata_command() -> list[str]:
    """MASTERDATA_SERVER_COMMAND (tests/floor/run.py: the server's, from another venv), else
    the installed console script, or the same entry point through this interpreter."""
    if command := os.environ.get("MASTERDATA_SERVER_COMMAND"):
        return [command]
    script = Path(sys.executable).parent / "masterdata"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from masterdata.cli import main; raise SystemExit(main())"]


def free_port() -> int:
    """A port nothing listens on right now (for commands that must not get to bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command_env(database_url: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment minus any stray MASTERDATA_* setting, plus the ones the test wants."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERDATA_")}
    env["MASTERDATA_DATABASE_URL"] = database_url
    env["MASTERDATA_LOG_LEVEL"] = "INFO"  # the "listening on port" line is INFO
    env.update(extra or {})
    return env


#: A log record of the text format (a server at INFO logs a little before it refuses).
_LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO) ")


@dataclass
class CommandResult:
    """A finished `masterdata` command."""

    returncode: int
    stdout: str
    stderr: str

    def refusal(self) -> str:
        """The one line a command refused with (exit 2, no traceback, nothing on stdout)."""
        assert self.returncode == 2, self
        assert "Traceback" not in self.stderr and self.stdout == "", self
        lines = [line for line in self.stderr.splitlines() if not _LOG_RECORD.match(line)]
        assert len(lines) == 1 and lines[0].startswith("masterdata: "), self.stderr
        return lines[0]


async def run_process(
    *argv: str,
    env: Mapping[str, str],
    cwd: Path | str | None = None,
    timeout_s: float = 60.0,
    merge_stderr: bool = False,
) -> CommandResult:
    """Run a command to completion (killed if it overstays `timeout_s`)."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=dict(env),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT if merge_stderr else asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await process.communicate()
    finally:
        await _kill(process)
    assert process.returncode is not None
    return CommandResult(
        process.returncode, out.decode(errors="replace"), (err or b"").decode(errors="replace")
    )


async def run_masterdata(
    args: Sequence[str],
    database_url: str,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
) -> CommandResult:
    """Run a short `masterdata` command (migrate, a refused serve) to completion."""
    return await run_process(
        *masterdata_command(), *args, env=command_env(database_url, env), timeout_s=timeout_s
    )


@dataclass
class ServerProcess:
    """A `masterdata serve` subprocess listening on 127.0.0.1:`port` (0 until known)."""

    process: asyncio.subprocess.Process
    stderr_path: Path
    port: int = 0

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
        """Wait for the bound port, then until Health/Check("") is SERVING."""
        deadline = time.monotonic() + timeout_s
        while not self.port:
            if match := _LISTENING.search(self.stderr):
                self.port = int(match[1])
            else:
                self._check_alive(deadline, timeout_s)
                await asyncio.sleep(0.05)
        async with aio.insecure_channel(self.target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while not await _is_serving(stub):
                self._check_alive(deadline, timeout_s)
                await asyncio.sleep(0.1)

    def _check_alive(self, deadline: float, timeout_s: float) -> None:
        """Fail with the captured stderr if the server died or is too slow to start."""
        if self.process.returncode is not None:
            raise AssertionError(f"server exited before serving; {self.describe()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not SERVING after {timeout_s}s; {self.describe()}")

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


async def spawn_server(database_url: str, env: Mapping[str, str] | None = None) -> ServerProcess:
    """Start `masterdata serve --listen 127.0.0.1:0` without waiting for it."""
    fd, name = tempfile.mkstemp(prefix="masterdata-serve-", suffix=".log")
    with os.fdopen(fd, "wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *masterdata_command(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            env=command_env(database_url, env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    return ServerProcess(process, Path(name))


async def start_server(database_url: str, env: Mapping[str, str] | None = None) -> ServerProcess:
    """Spawn `masterdata serve` and wait until it is SERVING (killing it if it never is)."""
    server = await spawn_server(database_url, env)
    try:
        await server.wait_serving()
    except BaseException:
        await server.kill()
        raise
    return server


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
