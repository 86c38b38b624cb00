"""The server under test: a scratch database, `masterdata migrate/seed/serve`, its pids.

The server runs as operators run it, the real command in its own process group
(so its CPU and RSS are its own): `masterdata serve --workers N --metrics-port P`
on 127.0.0.1:0. The port is read from the "listening on port" log line (a port
picked here could be taken in between, and SO_REUSEPORT would then share it
silently). With --target the server is someone else's and only its address,
metrics ports and (optionally) its pid are known.
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
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 60.0
_LISTENING = re.compile(r"masterdata listening on port (\d+)")


def masterdata_command() -> list[str]:
    return [str(Path(sys.executable).parent / "masterdata")]


def command_env(database_url: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MASTERDATA_")}
    return env | {"MASTERDATA_DATABASE_URL": database_url} | extra


async def run_command(args: list[str], database_url: str) -> None:
    """`masterdata migrate`, `masterdata seed`: must succeed."""
    process = await asyncio.create_subprocess_exec(
        *masterdata_command(),
        *args,
        env=command_env(database_url, {}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    if process.returncode:
        raise RuntimeError(f"masterdata {' '.join(args)} failed:\n{out.decode()}")


def free_port_run(count: int) -> int:
    """A port P with P .. P + count - 1 free (one metrics port per worker)."""
    for _ in range(100):
        with contextlib.ExitStack() as stack:
            first = stack.enter_context(socket.socket())
            first.bind(("127.0.0.1", 0))
            base = int(first.getsockname()[1])
            try:
                for offset in range(1, count):
                    stack.enter_context(socket.socket()).bind(("127.0.0.1", base + offset))
            except OSError:
                continue
            return base
    raise RuntimeError(f"no {count} consecutive free ports")


@dataclass
class Server:
    """Where the server listens and which processes are it."""

    target: str
    metrics_ports: list[int]
    supervisor_pid: int | None = None
    process: asyncio.subprocess.Process | None = None
    log_path: Path | None = None
    pids: list[int] = field(default_factory=list)
    #: Name of the PostgreSQL database it serves, when known.
    database: str = ""


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[-1].split("?", 1)[0]


def worker_pids(supervisor: int) -> list[int]:
    """The workers of a `--workers N` supervisor (spawned children), else itself."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                spawned = b"spawn_main" in cmdline.read()
            if parent == supervisor and spawned:
                children.append(int(entry))
    return sorted(children) or [supervisor]


async def start_server(url: str, workers: int, env: dict[str, str]) -> Server:
    """Start `masterdata serve` and wait until every worker listens."""
    metrics = free_port_run(workers)
    fd, name = tempfile.mkstemp(prefix="masterdata-load-", suffix=".log")
    with os.fdopen(fd, "wb") as log:
        process = await asyncio.create_subprocess_exec(
            *masterdata_command(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            str(workers),
            "--metrics-port",
            str(metrics),
            env=command_env(url, env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    ports = [metrics + i for i in range(workers)]
    server = Server("", ports, process.pid, process, Path(name), database=database_name(url))
    try:
        async with asyncio.timeout(START_TIMEOUT_S):
            while len(listening := _LISTENING.findall(server.log_path.read_text())) < workers:
                if process.returncode is not None:
                    raise RuntimeError(f"server exited:\n{server.log_path.read_text()}")
                await asyncio.sleep(0.1)
    except BaseException:
        await stop_server(server)
        raise
    server.target = f"127.0.0.1:{listening[0]}"
    server.pids = worker_pids(process.pid)
    return server


async def stop_server(server: Server) -> int | None:
    """SIGTERM (a graceful drain), then SIGKILL if it overstays; the exit code."""
    process = server.process
    if process is None:
        return None
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()
    if server.log_path is not None:
        server.log_path.unlink(missing_ok=True)
    return process.returncode
