"""Helpers of the command-line tests: run `masterdata` as a subprocess against a server."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from grpc import aio
from processes import (
    CommandResult,
    ServerProcess,
    command_env,
    masterdata_command,
    run_process,
    running_server,
)

from masterdata.v1 import location_pb2, location_pb2_grpc

OK, CALL_FAILED, USAGE, ROWS_REJECTED, INTERRUPTED = 0, 1, 2, 3, 130


@contextlib.asynccontextmanager
async def sqlite_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ServerProcess]:
    """`masterdata serve` on a SQLite file of its own."""
    path = tmp_path_factory.mktemp("cli") / "masterdata.db"
    async with running_server(f"sqlite+aiosqlite:///{path}") as process:
        yield process


def client_env(
    server: ServerProcess | None, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """No stray MASTERDATA_* settings; MASTERDATA_TARGET names the server."""
    env = command_env("sqlite+aiosqlite:///unused.db", extra)
    if server is not None:
        env["MASTERDATA_TARGET"] = server.target
    return env


async def cli(
    server: ServerProcess | None,
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
) -> CommandResult:
    """Run `masterdata <args>` to completion with the server as MASTERDATA_TARGET."""
    return await run_process(
        *masterdata_command(), *args, cwd=cwd, env=client_env(server, env), timeout_s=timeout_s
    )


async def cli_into_head(server: ServerProcess, *args: str) -> tuple[CommandResult, str]:
    """`masterdata <args> | head -1` through a real pipe: the command's result and the line.

    head exits after its first line, so a command with more to print writes to a
    pipe nobody reads any more (EPIPE), as in a shell.
    """

    def run() -> tuple[CommandResult, str]:
        command = [*masterdata_command(), *args]
        env = client_env(server)
        with subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        ) as writer:
            assert writer.stdout is not None and writer.stderr is not None
            head = subprocess.run(
                ["head", "-1"], stdin=writer.stdout, capture_output=True, timeout=60, check=True
            )
            writer.stdout.close()  # only head reads it
            stderr = writer.stderr.read().decode(errors="replace")
            code = writer.wait(timeout=60)
        return CommandResult(code, "", stderr), head.stdout.decode()

    return await asyncio.to_thread(run)


def ok(result: CommandResult) -> str:
    assert result.returncode == OK, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:8]}"


async def create_location(
    channel: aio.Channel, name: str, state_code: str
) -> location_pb2.Location:
    stub = location_pb2_grpc.LocationServiceStub(channel)
    location = location_pb2.Location(name=name, state_code=state_code)
    reply = await stub.CreateLocation(location_pb2.CreateLocationRequest(location=location))
    return reply.location
