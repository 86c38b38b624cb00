"""Fixtures of the floor tests: one `masterdata serve` subprocess and clients of it.

These tests run twice: in the full suite (the project's venv, the newest grpcio and
protobuf) and from tests/floor/run.py, in a venv holding only the client distribution
at the floors it declares. So they import nothing of the server: they reach it over
the network, and it runs from the project's venv (MASTERDATA_SERVER_COMMAND).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from processes import ServerProcess, running_server

from masterdata.client import Client


@pytest.fixture(scope="session")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    """A server on a SQLite file of its own (migrated at start-up); tests share it, so
    each names what it creates uniquely."""
    database: Path = tmp_path_factory.mktemp("floor") / "masterdata.db"
    async with running_server(f"sqlite+aiosqlite:///{database}") as process:
        yield process


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    async with Client(server.target) as client:
        yield client
