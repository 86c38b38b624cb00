"""Prometheus metrics and JSON access logs of a real `masterdata serve`; x-request-id."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from pathlib import Path

import grpc
import pytest
from grpc import aio
from processes import free_port, start_server
from security_support import bearer, write_api_keys

from masterdata.server.security.identity import READ, WRITE
from masterdata.v1 import events_pb2, events_pb2_grpc, location_pb2, location_pb2_grpc

pytestmark = pytest.mark.timeout(120)
CREATE = "/masterdata.v1.LocationService/CreateLocation"
GET = "/masterdata.v1.LocationService/GetLocation"
SUBSCRIBE = "/masterdata.v1.EventService/SubscribeEvents"


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in the exposition text, or None when absent."""
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if match is None:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[1] or ""))
        if found == labels:
            return float(match[2])
    return None


async def test_metrics_json_logs_and_request_ids(tmp_path: Path) -> None:
    keys = write_api_keys(tmp_path / "keys.json", {"erp": ("erp-key", [READ, WRITE])})
    metrics_port = free_port()
    env = {
        "MASTERDATA_METRICS_PORT": str(metrics_port),
        "MASTERDATA_LOG_FORMAT": "json",
        "MASTERDATA_API_KEYS_FILE": str(keys),
    }
    url = f"sqlite+aiosqlite:///{tmp_path / 'masterdata.db'}"
    server = await start_server(url, env)
    try:
        async with aio.insecure_channel(server.target) as channel:
            given, generated = await exercise(channel, metrics_port)
        assert await server.terminate() == 0, server.describe()
        log = server.stderr
    finally:
        await server.kill()
    server.stderr_path.unlink(missing_ok=True)
    check_access_log(log, given, generated)


async def exercise(channel: aio.Channel, metrics_port: int) -> tuple[str, str]:
    """Calls with and without a request id, a failure, a subscription; then a scrape."""
    stub = location_pb2_grpc.LocationServiceStub(channel)
    auth = bearer("erp-key")
    given = f"req-{uuid.uuid4()}"
    call = stub.CreateLocation(
        location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Gondal")),
        metadata=(*auth, ("x-request-id", given)),
    )
    await call
    assert ("x-request-id", given) in tuple(await call.trailing_metadata())
    second = stub.CreateLocation(
        location_pb2.CreateLocationRequest(location=location_pb2.Location(name="Rajkot")),
        metadata=auth,
    )
    await second
    generated = dict(await second.trailing_metadata())["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    missing = stub.GetLocation(
        location_pb2.GetLocationRequest(id=str(uuid.uuid4())),
        metadata=(*auth, ("x-request-id", "req-missing")),
    )
    with pytest.raises(aio.AioRpcError) as raised:
        await missing
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert ("x-request-id", "req-missing") in tuple(raised.value.trailing_metadata())
    feed = events_pb2_grpc.EventServiceStub(channel).SubscribeEvents(
        events_pb2.SubscribeEventsRequest(), metadata=auth
    )
    while not (await feed.read()).HasField("caught_up"):
        pass

    text = await asyncio.to_thread(scrape, metrics_port)
    assert sample(text, "masterdata_rpc_calls_total", code="OK", method=CREATE) == 2
    assert sample(text, "masterdata_rpc_calls_total", code="NOT_FOUND", method=GET) == 1
    assert sample(text, "masterdata_rpc_duration_seconds_count", method=CREATE) == 2
    assert sample(text, "masterdata_rpc_duration_seconds_bucket", le="+Inf", method=CREATE) == 2
    assert sample(text, "masterdata_rpc_in_flight", method=SUBSCRIBE) == 1
    assert sample(text, "masterdata_rpc_in_flight", method=CREATE) == 0
    assert sample(text, "masterdata_event_subscribers") == 1
    assert sample(text, "masterdata_db_pool_in_use") is not None
    assert sample(text, "masterdata_db_pool_overflow") == 0
    for outcome in ("created", "updated", "skipped", "failed"):
        assert sample(text, "masterdata_import_rows_total", outcome=outcome) == 0
    for generation in "012":
        count = sample(text, "masterdata_gc_pause_seconds_count", generation=generation)
        assert count is not None and count >= 0
    feed.cancel()
    # Wait until the server has seen the cancellation, so the stream's access-log
    # line says CANCELLED rather than the UNAVAILABLE of the shutdown that follows.
    for _ in range(100):
        text = await asyncio.to_thread(scrape, metrics_port)
        if sample(text, "masterdata_rpc_in_flight", method=SUBSCRIBE) == 0:
            break
        await asyncio.sleep(0.05)
    return given, generated


def check_access_log(log: str, given: str, generated: str) -> None:
    """One JSON object per line; one access-log entry per call with its fields."""
    records = [json.loads(line) for line in log.splitlines() if line.strip()]
    access = {r["request_id"]: r for r in records if r["logger"] == "masterdata.rpc"}
    entry = access[given]
    assert {k: entry[k] for k in ("method", "status", "identity", "level")} == {
        "method": CREATE,
        "status": "OK",
        "identity": "erp",
        "level": "INFO",
    }
    assert isinstance(entry["duration_ms"], float | int) and entry["duration_ms"] > 0
    assert access[generated]["method"] == CREATE
    assert access["req-missing"]["status"] == "NOT_FOUND"
    statuses = {r["status"] for r in access.values() if r["method"] == SUBSCRIBE}
    assert statuses == {"CANCELLED"}
    assert any("listening on port" in r["message"] for r in records)
