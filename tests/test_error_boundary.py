"""The error boundary: no traceback leaks, unimplemented services say so."""

from __future__ import annotations

import uuid

import grpc
import pytest
from grpc import aio
from support import expect_failure

from masterdata.server.resources.service import ResourceService
from masterdata.v1 import (
    commodity_pb2,
    commodity_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    location_pb2,
    location_pb2_grpc,
    organization_pb2,
    organization_pb2_grpc,
    trade_terms_pb2,
    trade_terms_pb2_grpc,
)


async def test_unexpected_error_is_internal_with_a_call_id(
    channel: aio.Channel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail: password=hunter2")

    monkeypatch.setattr(ResourceService, "get", explode)
    stub = location_pb2_grpc.LocationServiceStub(channel)
    failure = await expect_failure(
        stub.GetLocation(location_pb2.GetLocationRequest(id=str(uuid.uuid4()))),
        grpc.StatusCode.INTERNAL,
    )
    call_id = failure.metadata["call_id"]
    assert call_id in failure.message and failure.reason == "INTERNAL"
    assert "hunter2" not in failure.message and "Traceback" not in failure.message
    assert any(call_id in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize(
    "call",
    [
        lambda ch: organization_pb2_grpc.OrganizationServiceStub(ch).GetOrganization(
            organization_pb2.GetOrganizationRequest(id=str(uuid.uuid4()))
        ),
        lambda ch: commodity_pb2_grpc.CommodityServiceStub(ch).ListUnits(
            commodity_pb2.ListUnitsRequest()
        ),
        lambda ch: trade_terms_pb2_grpc.TradeTermsServiceStub(ch).ListTradeTypes(
            trade_terms_pb2.ListTradeTypesRequest()
        ),
        lambda ch: events_pb2_grpc.EventServiceStub(ch).ListEvents(events_pb2.ListEventsRequest()),
    ],
)
async def test_services_of_later_issues_answer_unimplemented(channel: aio.Channel, call) -> None:
    await expect_failure(call(channel), grpc.StatusCode.UNIMPLEMENTED)


async def test_unimplemented_stream_answers_unimplemented(channel: aio.Channel) -> None:
    stream = events_pb2_grpc.EventServiceStub(channel).SubscribeEvents(
        events_pb2.SubscribeEventsRequest()
    )
    with pytest.raises(aio.AioRpcError) as raised:
        async for _ in stream:
            pass
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
