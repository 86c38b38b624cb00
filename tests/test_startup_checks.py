"""`masterdata serve`, `migrate` and `seed` refuse unsafe or unusable settings and
databases with one clear line on stderr and exit code 2."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from cli_support import create_location
from grpc import aio
from processes import (
    ServerProcess,
    command_env,
    free_port,
    masterdata_command,
    run_masterdata,
    running_server,
)
from sqlalchemy.engine import make_url

from masterdata.server.config import Settings
from masterdata.v1 import location_pb2

pytestmark = pytest.mark.timeout(120)


def sqlite_url(folder: Path) -> str:
    return f"sqlite+aiosqlite:///{folder / 'masterdata.db'}"


async def test_a_public_address_without_auth_is_refused(tmp_path: Path) -> None:
    for listen in ("0.0.0.0:0", "[::]:0"):
        refused = await run_masterdata(["serve", "--listen", listen], sqlite_url(tmp_path))
        assert refused.returncode == 2, refused.stderr
        assert f"refusing to listen on {listen} without authentication" in refused.stderr
        assert "--insecure" in refused.stderr and "--api-keys-file" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert not (tmp_path / "masterdata.db").exists()  # refused before touching the database


async def test_insecure_lets_a_public_address_start(tmp_path: Path) -> None:
    fd, name = tempfile.mkstemp(prefix="masterdata-serve-", suffix=".log")
    with os.fdopen(fd, "wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *masterdata_command(),
            "serve",
            "--listen",
            "0.0.0.0:0",
            "--insecure",
            env=command_env(sqlite_url(tmp_path)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    server = ServerProcess(process, Path(name))
    try:
        await server.wait_serving()  # through 127.0.0.1, one of "all addresses"
        assert await server.terminate() == 0, server.describe()
    finally:
        await server.kill()
    server.stderr_path.unlink()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-cert", "/nonexistent/server.crt"], "both a certificate and its private key"),
        (
            ["--tls-cert", "/nonexistent/server.crt", "--tls-key", "/nonexistent/server.key"],
            "cannot read the TLS certificate /nonexistent/server.crt",
        ),
        (["--tls-client-ca", "/nonexistent/ca.crt"], "needs a server certificate and key"),
        (["--api-keys-file", "/nonexistent/keys.json"], "cannot read the API key file"),
        (["--jwt-secret", "too-short"], "at least 32 bytes"),
        (["--jwt-audience", "masterdata"], "no JWT secret or public key"),
    ],
)
async def test_unusable_security_settings_are_refused(
    tmp_path: Path, flags: list[str], message: str
) -> None:
    refused = await run_masterdata(
        ["serve", "--listen", "127.0.0.1:0", *flags], sqlite_url(tmp_path)
    )
    assert refused.returncode == 2, refused.stderr
    assert message in refused.stderr and "Traceback" not in refused.stderr, refused.stderr


async def test_a_taken_metrics_port_is_refused(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        refused = await run_masterdata(
            ["serve", "--listen", "127.0.0.1:0", "--metrics-port", str(port)],
            sqlite_url(tmp_path),
        )
    assert refused.returncode == 2, refused.stderr
    assert f"cannot serve metrics on 127.0.0.1:{port}" in refused.stderr
    assert "Traceback" not in refused.stderr


async def test_log_format_is_checked(tmp_path: Path) -> None:
    refused = await run_masterdata(
        ["serve", "--listen", "127.0.0.1:0"], sqlite_url(tmp_path), {"MASTERDATA_LOG_FORMAT": "xml"}
    )
    assert refused.returncode == 2 and "log format" in refused.stderr, refused.stderr


async def test_the_event_loop_is_checked(tmp_path: Path) -> None:
    refused = await run_masterdata(
        ["serve", "--listen", "127.0.0.1:0"],
        sqlite_url(tmp_path),
        {"MASTERDATA_EVENT_LOOP": "tokio"},
    )
    assert "MASTERDATA_EVENT_LOOP must be uvloop or asyncio" in refused.refusal()


async def test_the_standard_event_loop_still_serves(tmp_path: Path) -> None:
    standard = {"MASTERDATA_EVENT_LOOP": "asyncio"}
    async with (
        running_server(sqlite_url(tmp_path), standard) as server,
        aio.insecure_channel(server.target) as channel,
    ):
        assert (await create_location(channel, "Rajkot", "GJ")).name == "Rajkot"


# --- the database: one line and exit 2 for every command that opens it -------------

DATABASE_COMMANDS = [
    pytest.param(["migrate"], id="migrate"),
    pytest.param(["seed"], id="seed"),
    pytest.param(["serve", "--listen", "127.0.0.1:0"], id="serve"),
    pytest.param(["serve", "--listen", "127.0.0.1:0", "--workers", "2"], id="serve-workers"),
]


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
async def test_a_missing_postgres_database_says_how_to_create_it(
    postgres_url: str, command: list[str]
) -> None:
    url = make_url(postgres_url)
    name = f"masterdata_missing_{uuid.uuid4().hex[:8]}"
    missing = url.set(database=name).render_as_string(hide_password=False)
    line = (await run_masterdata(command, missing)).refusal()
    assert f'has no database "{name}"' in line, line
    assert f"createdb -h {url.host} -p {url.port or 5432} -U {url.username} {name}" in line


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
async def test_unreachable_postgres_names_host_and_port(command: list[str]) -> None:
    port = free_port()  # nothing listens there: connection refused
    started = time.monotonic()
    line = (
        await run_masterdata(command, f"postgresql+asyncpg://root@127.0.0.1:{port}/x")
    ).refusal()
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in line, line
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("command", DATABASE_COMMANDS[:3])
async def test_a_missing_sqlite_directory_is_named(tmp_path: Path, command: list[str]) -> None:
    folder = tmp_path / "not-made"
    line = (await run_masterdata(command, f"sqlite:///{folder / 'masterdata.db'}")).refusal()
    assert f"directory {folder} does not exist" in line, line
    assert not folder.exists()
    line = (await run_masterdata(command, f"sqlite+aiosqlite:///{tmp_path}")).refusal()
    assert f"cannot open SQLite database {tmp_path}: it is a directory" in line, line


@pytest.mark.parametrize("command", DATABASE_COMMANDS[:3])
async def test_an_unsupported_database_url_says_what_works(command: list[str]) -> None:
    for url in ("mysql://root@127.0.0.1/masterdata", "not a url"):
        line = (await run_masterdata(command, url)).refusal()
        assert "postgresql://USER@HOST:PORT/NAME or sqlite:///PATH" in line, line


async def test_an_unmigrated_database_is_refused_by_seed_and_workers(
    empty_postgres_url: str,
) -> None:
    for command in (["seed"], ["serve", "--listen", "127.0.0.1:0", "--workers", "2"]):
        line = (await run_masterdata(command, empty_postgres_url)).refusal()
        assert "not migrated" in line and "masterdata migrate" in line, line


async def test_an_unknown_revision_is_a_usage_error(empty_postgres_url: str) -> None:
    refused = await run_masterdata(["migrate", "--revision", "nosuch"], empty_postgres_url)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused
    assert "--revision nosuch" in refused.stderr, refused.stderr


# --- bare URL schemes ---------------------------------------------------------------


def test_bare_schemes_mean_the_async_drivers() -> None:
    for given, meant in [
        ("postgres://u:p@db:5433/md", "postgresql+asyncpg://u:p@db:5433/md"),
        ("postgresql://u@db/md?sslmode=require", "postgresql+asyncpg://u@db/md?sslmode=require"),
        ("PostgreSQL://u@db/md", "postgresql+asyncpg://u@db/md"),
        ("sqlite:///./m.db", "sqlite+aiosqlite:///./m.db"),
        ("postgresql+asyncpg://u@db/md", "postgresql+asyncpg://u@db/md"),
        ("sqlite+aiosqlite:////abs/m.db", "sqlite+aiosqlite:////abs/m.db"),
        ("postgresql+psycopg://u@db/md", "postgresql+psycopg://u@db/md"),  # refused later
    ]:
        assert Settings.load(environ={"MASTERDATA_DATABASE_URL": given}).database_url == meant
        assert Settings(database_url=given).database_url == meant


async def test_postgres_and_postgresql_urls_migrate_and_serve(empty_postgres_url: str) -> None:
    rest = empty_postgres_url.split("://", 1)[1]
    migrated = await run_masterdata(["migrate"], f"postgres://{rest}")
    assert migrated.returncode == 0 and "database at revision" in migrated.stdout, migrated
    served = running_server(f"postgresql://{rest}")
    async with served as server, aio.insecure_channel(server.target) as channel:
        made = await create_location(channel, "Unjha yard", "GJ")
    assert made.region == location_pb2.REGION_WEST


async def test_a_bare_sqlite_url_seeds(tmp_path: Path) -> None:
    seeded = await run_masterdata(["seed"], f"sqlite:///{tmp_path / 'm.db'}")
    assert seeded.returncode == 0, seeded
    assert (tmp_path / "m.db").exists()
