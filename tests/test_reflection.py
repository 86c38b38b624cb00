"""Server reflection answers as grpc.reflection.v1 and as v1alpha, with the protos' comments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc import aio
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from security_support import serving
from test_grpcurl import grpcurl_path

from masterdata.server.api.reflection import V1_SERVICE_NAME, v1_reflection_file
from masterdata.server.app import SERVICE_NAMES, App

V1ALPHA_SERVICE_NAME = "grpc.reflection.v1alpha.ServerReflection"


@pytest.fixture(scope="module")
async def app(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[App]:
    path = tmp_path_factory.mktemp("reflection") / "masterdata.db"
    async with serving(f"sqlite+aiosqlite:///{path}") as server:
        yield server


def v1_messages() -> dict[str, Any]:
    """v1's request and response classes, made from v1's own descriptor (not v1alpha's)."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(v1_reflection_file())
    file = pool.FindFileByName("grpc/reflection/v1/reflection.proto")
    return message_factory.GetMessageClassesForFiles([file.name], pool)


async def ask(channel: aio.Channel, service: str, request: Any, response_type: Any) -> Any:
    call = channel.stream_stream(
        f"/{service}/ServerReflectionInfo",
        request_serializer=type(request).SerializeToString,
        response_deserializer=response_type.FromString,
    )
    async for response in call(iter([request]), timeout=10):
        return response
    raise AssertionError("no response")


async def test_v1_lists_services_and_returns_documented_files(app: App) -> None:
    types = v1_messages()
    request_type = types["grpc.reflection.v1.ServerReflectionRequest"]
    response_type = types["grpc.reflection.v1.ServerReflectionResponse"]
    async with aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        listed = await ask(channel, V1_SERVICE_NAME, request_type(list_services=""), response_type)
        names = {s.name for s in listed.list_services_response.service}
        assert names == {
            *SERVICE_NAMES,
            "grpc.health.v1.Health",
            V1_SERVICE_NAME,
            V1ALPHA_SERVICE_NAME,
        }

        found = await ask(
            channel,
            V1_SERVICE_NAME,
            request_type(file_containing_symbol="masterdata.v1.LocationService.CreateLocation"),
            response_type,
        )
        # The file first, then its dependencies.
        serialized = found.file_descriptor_response.file_descriptor_proto[0]
        file = descriptor_pb2.FileDescriptorProto.FromString(serialized)
        assert file.name == "masterdata/v1/location.proto"
        comments = [loc.leading_comments for loc in file.source_code_info.location]
        assert " Creates a location." in "".join(comments)

        own = await ask(
            channel,
            V1_SERVICE_NAME,
            request_type(file_containing_symbol=V1_SERVICE_NAME),
            response_type,
        )
        serialized = own.file_descriptor_response.file_descriptor_proto[0]
        assert descriptor_pb2.FileDescriptorProto.FromString(serialized).package == (
            "grpc.reflection.v1"
        )


async def test_v1alpha_still_answers(app: App) -> None:
    async with aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)  # type: ignore[no-untyped-call]
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        async for response in stub.ServerReflectionInfo(iter([request]), timeout=10):
            names = {s.name for s in response.list_services_response.service}
            assert {V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME, *SERVICE_NAMES} <= names
            break
        else:
            raise AssertionError("no response")


async def test_an_unknown_symbol_is_not_found_over_v1(app: App) -> None:
    types = v1_messages()
    request = types["grpc.reflection.v1.ServerReflectionRequest"](
        file_containing_symbol="masterdata.v1.NoSuchService"
    )
    response_type = types["grpc.reflection.v1.ServerReflectionResponse"]
    async with aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        response = await ask(channel, V1_SERVICE_NAME, request, response_type)
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


async def grpcurl(app: App, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        grpcurl_path(),
        "-plaintext",
        f"127.0.0.1:{app.port}",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_grpcurl_lists_and_describes_over_reflection(app: App, tmp_path: Path) -> None:
    code, out, err = await grpcurl(app, "list")
    assert code == 0, err
    assert {V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME} <= set(out.split())
    code, out, err = await grpcurl(app, "describe", V1_SERVICE_NAME)
    assert code == 0, err
    assert "rpc ServerReflectionInfo ( stream .grpc.reflection.v1.ServerReflectionRequest )" in out
    code, out, err = await grpcurl(app, "describe", "masterdata.v1.Location")
    assert code == 0, err
    assert "// Trading region derived from state_code. Output only." in out
