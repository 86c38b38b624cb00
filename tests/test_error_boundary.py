"""The error boundary: no traceback leaks to the client."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc import aio
from support import expect_failure

from masterdata.server.resources.standard import Resources
from masterdata.v1 import (
    location_pb2,
    location_pb2_grpc,
)


async def test_unexpected_error_is_internal_with_a_call_id(
    channel: aio.Channel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail: password=hunter2")

    monkeypatch.setattr(Resources, "get", explode)
    stub = location_pb2_grpc.LocationServiceStub(channel)
    failure = await expect_failure(
        stub.GetLocation(location_pb2.GetLocationRequest(id=str(uuid.uuid4()))),
        grpc.StatusCode.INTERNAL,
    )
    call_id = failure.metadata["call_id"]
    assert call_id in failure.message and failure.reason == "INTERNAL"
    assert "hunter2" not in failure.message and "Traceback" not in failure.message
    assert any(call_id in r.getMessage() and r.exc_info for r in caplog.records)
