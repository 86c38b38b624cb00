"""The SDK and the client commands against a live server, using only the client.

Run by tests/floor/run.py with the client at its declared floors (grpcio, protobuf,
googleapis-common-protos, ...), so each floor is proven by use: generated stubs and
messages, interceptors (request_id, deadlines, errors), rich error details, streams
both ways, the feed, and the `masterdata` command.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2
from grpc import aio
from processes import ServerProcess

from masterdata.client import (
    AlreadyExistsError,
    Client,
    InvalidArgumentError,
    MasterdataError,
    NotFoundError,
    SyncClient,
    Timeouts,
)
from masterdata.v1 import commodity_pb2, location_pb2

#: This venv's `masterdata`: in the floor venv, the client's, without serve.
CLIENT_COMMAND = str(Path(sys.executable).parent / "masterdata")


def unique(name: str) -> str:
    return f"{name} {uuid.uuid4().hex[:8]}"


async def test_async_crud_and_not_found(client: Client) -> None:
    locations = client.locations
    name = unique("Kadi yard")
    created = (
        await locations.CreateLocation(
            location_pb2.CreateLocationRequest(
                location=location_pb2.Location(name=name, state_code="GJ")
            )
        )
    ).location
    assert created.region == location_pb2.REGION_WEST
    updated = (
        await locations.UpdateLocation(
            location_pb2.UpdateLocationRequest(
                location=location_pb2.Location(id=created.id, city="Kadi", etag=created.etag),
                update_mask=field_mask_pb2.FieldMask(paths=["city"]),
            )
        )
    ).location
    assert updated.city == "Kadi" and updated.etag != created.etag
    listed = client.list_all(
        "locations", location_pb2.ListLocationsRequest(filter=f'name = "{name}"'), page_size=1
    )
    assert [item.id async for item in listed] == [created.id]
    await locations.DeleteLocation(location_pb2.DeleteLocationRequest(id=created.id))
    with pytest.raises(NotFoundError) as caught:
        await locations.DeleteLocation(location_pb2.DeleteLocationRequest(id=created.id))
    assert caught.value.code == grpc.StatusCode.NOT_FOUND and caught.value.request_id


async def test_sync_client_crud(server: ServerProcess) -> None:
    def scenario() -> tuple[str, str]:
        with SyncClient(server.target) as client:
            commodities = client.commodities
            created = commodities.CreateCommodity(
                commodity_pb2.CreateCommodityRequest(
                    commodity=commodity_pb2.Commodity(name=unique("Cotton"), category="Fibre")
                )
            ).commodity
            commodities.UpdateCommodity(
                commodity_pb2.UpdateCommodityRequest(
                    commodity=commodity_pb2.Commodity(id=created.id, gst_rate="5.00"),
                    update_mask=field_mask_pb2.FieldMask(paths=["gst_rate"]),
                )
            )
            got = commodities.GetCommodity(commodity_pb2.GetCommodityRequest(id=created.id))
            try:
                commodities.GetCommodity(commodity_pb2.GetCommodityRequest(id=str(uuid.uuid4())))
            except NotFoundError as error:
                return got.commodity.gst_rate, error.code.name
            raise AssertionError("GetCommodity of an unknown id succeeded")

    assert await asyncio.to_thread(scenario) == ("5.00", "NOT_FOUND")


async def test_bad_input_carries_every_field_violation_with_its_reason(client: Client) -> None:
    request = location_pb2.CreateLocationRequest(
        location=location_pb2.Location(latitude=91, timezone="Mars/Olympus")
    )
    with pytest.raises(InvalidArgumentError) as caught:
        await client.locations.CreateLocation(request)
    error = caught.value
    assert error.reason and error.domain == "masterdata.v1"
    reasons = {v.field: v.reason for v in error.violations}
    assert {"location.name", "location.latitude", "location.timezone"} <= set(reasons)
    assert reasons["location.name"] == "REQUIRED", reasons
    assert not isinstance(error, grpc.RpcError)


async def test_request_id_makes_a_repeated_create_one_create(client: Client) -> None:
    request = commodity_pb2.CreateCommodityRequest(
        commodity=commodity_pb2.Commodity(name=unique("Wheat"), category="Grain"),
        request_id=str(uuid.uuid4()),
    )
    first = (await client.commodities.CreateCommodity(request)).commodity
    again = (await client.commodities.CreateCommodity(request)).commodity
    assert first == again
    request.request_id = ""  # a new create of the same name
    with pytest.raises(AlreadyExistsError) as caught:
        await client.commodities.CreateCommodity(request)
    assert caught.value.reason == "DUPLICATE_NAME"


async def test_subscribe_delivers_new_events_in_order(client: Client) -> None:
    head = await client.head_sequence()
    names = [unique("Feed yard") for _ in range(3)]
    for name in names:
        await client.locations.CreateLocation(
            location_pb2.CreateLocationRequest(location=location_pb2.Location(name=name))
        )
    feed = client.subscribe(after_sequence=head, aggregate_types=["location"])
    received = []
    async with asyncio.timeout(20):
        async for event in feed:
            received.append(event)
            if len(received) == 3:
                break
    assert [e.event_type for e in received] == ["location.created"] * 3
    assert [e.sequence for e in received] == sorted(e.sequence for e in received)
    assert received[0].sequence > head


async def test_import_streams_up_and_export_streams_down(client: Client) -> None:
    category = unique("Pulses")
    rows = [commodity_pb2.Commodity(name=unique("Pulse"), category=category) for _ in range(5)]
    result = await client.import_commodities(rows)
    assert (result.summary.created, result.ok) == (5, True)
    buffer = io.BytesIO()
    exported = await client.export_commodities(buffer, filter=f'category = "{category}"')
    assert exported == 5 and buffer.getvalue().count(category.encode()) == 5


@pytest.mark.skipif(
    importlib.util.find_spec("openpyxl") is not None, reason="the xlsx extra is installed"
)
async def test_an_xlsx_export_without_the_extra_names_it(
    client: Client, server: ServerProcess, tmp_path: Path
) -> None:
    with pytest.raises(ImportError, match=r"masterdata-client\[xlsx\]"):
        await client.export_commodities(tmp_path / "out.xlsx", format="xlsx")
    assert not (tmp_path / "out.xlsx").exists()
    command = [CLIENT_COMMAND, "export", "commodities", "-o", str(tmp_path / "out.xlsx")]
    shown = await asyncio.to_thread(
        subprocess.run, [*command, "--target", server.target], capture_output=True, text=True
    )
    assert shown.returncode == 2 and "masterdata-client[xlsx]" in shown.stderr, shown
    assert not (tmp_path / "out.xlsx").exists()


async def test_default_deadline_applies_to_calls_without_a_timeout() -> None:
    """A grpc.aio server whose ListLocations takes half a second, in this venv."""

    async def slow_list(_request: bytes, _context: aio.ServicerContext) -> bytes:
        await asyncio.sleep(0.5)
        return b""

    service = location_pb2.DESCRIPTOR.services_by_name["LocationService"].full_name
    handler = grpc.unary_unary_rpc_method_handler(slow_list)
    server = aio.server()
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service, {"ListLocations": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with Client(f"127.0.0.1:{port}", default_timeouts=Timeouts(read=0.1)) as client:
            request = location_pb2.ListLocationsRequest()
            with pytest.raises(MasterdataError) as caught:
                await client.locations.ListLocations(request)
            assert caught.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
            assert list((await client.locations.ListLocations(request, timeout=5)).locations) == []
    finally:
        await server.stop(0)


def test_the_client_command_calls_the_server(server: ServerProcess) -> None:
    with SyncClient(server.target) as client:
        created = client.locations.CreateLocation(
            location_pb2.CreateLocationRequest(location=location_pb2.Location(name=unique("CLI")))
        ).location
    shown = subprocess.run(
        [CLIENT_COMMAND, "get", "location", created.id, "--json", "--target", server.target],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["name"] == created.name
