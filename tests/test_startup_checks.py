"""`masterdata serve` refuses unsafe or unusable settings with a clear message (exit 2)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
from pathlib import Path

import pytest
from processes import ServerProcess, command_env, masterdata_command, run_masterdata

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
