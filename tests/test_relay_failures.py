"""The relay under failure: killed mid-stream, two at once, NATS gone and back, a bulk import.

Real processes throughout: `masterdata relay` subprocesses on a fresh PostgreSQL
database, NATS with JetStream, and an in-process server whose ListEvents is the
truth the stream is compared with — the same sequences, in order, none twice.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest
from grpc import aio
from relay_support import (
    OwnNats,
    RelayProcess,
    Target,
    eventually,
    listed_sequences,
    own_stream,
    relays,
    spawn_relay,
    stream_count,
    stream_sequences,
    write_locations,
)
from support import make_settings

from masterdata.server.app import App, build
from masterdata.server.storage.engine import Database
from masterdata.v1 import commodity_pb2 as pb
from masterdata.v1 import commodity_pb2_grpc, events_pb2_grpc

#: Rows of the bulk-import test (MASTERDATA_RELAY_BULK_ROWS; the issue asks for 100,000).
BULK_ROWS = int(os.environ.get("MASTERDATA_RELAY_BULK_ROWS", "100000"))


@pytest.fixture
async def app(migrated_postgres_url: str) -> AsyncIterator[App]:
    """A server on the test's own database: its ListEvents and its writes."""
    settings = make_settings(migrated_postgres_url)
    db = await Database.open(settings)
    server = build(settings, db)
    await server.start()
    yield server
    await server.stop(0)


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async with own_stream() as target:
        yield target


async def everything_arrives(app: App, target: Target, timeout_s: float = 30) -> list[int]:
    """Wait until the stream holds as many messages as ListEvents has events; both lists."""
    async with aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        expected = await listed_sequences(events_pb2_grpc.EventServiceStub(channel))

    async def arrived() -> bool:
        return await stream_count(target) >= len(expected)

    await eventually(arrived, timeout_s, f"{len(expected)} events in the stream")
    assert await stream_sequences(target) == expected
    return expected


async def reached(target: Target, count: int, relay: RelayProcess, timeout_s: float = 30) -> None:
    """Wait for `count` messages in the stream; fail at once, with its log, if `relay` exited."""

    async def check() -> bool:
        assert relay.process.returncode is None, f"relay exited:\n{relay.log}"
        return await stream_count(target) >= count

    await eventually(check, timeout_s, f"{count} messages in the stream", poll_s=0.02)


async def leads(relay: RelayProcess) -> bool:
    return (await relay.metrics()).get("masterdata_relay_leader") == 1


async def test_killed_twice_mid_stream_every_event_once_in_order(
    app: App, migrated_postgres_url: str, target: Target
) -> None:
    async with relays() as started:
        started.append(await spawn_relay(migrated_postgres_url, target))
        writer = asyncio.create_task(write_locations(app.runtime, 10_000, per_commit=20))
        for threshold in (2_000, 5_000):
            await reached(target, threshold, started[-1])
            started[-1].kill()  # SIGKILL while events are being written and published
            await started[-1].process.wait()
            started.append(await spawn_relay(migrated_postgres_url, target))
        await writer
        expected = await everything_arrives(app, target)
    assert len(expected) == 10_000


async def test_two_relays_one_publishes_and_the_standby_takes_over(
    app: App, migrated_postgres_url: str, target: Target
) -> None:
    async with relays() as started:
        first = await spawn_relay(migrated_postgres_url, target)
        started.append(first)
        await eventually(lambda: leads(first), 15, "the first relay leads")
        second = await spawn_relay(migrated_postgres_url, target)
        started.append(second)
        await eventually(second.metrics, 15, "the second relay's /metrics")
        writer = asyncio.create_task(write_locations(app.runtime, 6_000, per_commit=10))
        await reached(target, 2_000, first)
        standby = await second.metrics()
        assert standby["masterdata_relay_leader"] == 0
        assert standby["masterdata_relay_published_total"] == 0
        first.kill()
        takeover_s = await eventually(lambda: leads(second), 10, "the standby takes over")
        await writer
        await everything_arrives(app, target)
        assert (await second.metrics())["masterdata_relay_published_total"] > 0
    # the standby tries the lease every second (takeover_interval_s); slack for a loaded CI
    assert takeover_s < 5


async def test_nats_stopped_and_restarted_nothing_lost_lag_reported_then_drained(
    app: App, migrated_postgres_url: str
) -> None:
    nats_server = OwnNats()
    await nats_server.start()
    try:
        async with own_stream(nats_server.url) as target, relays() as started:
            quick = {"MASTERDATA_RELAY_ACK_TIMEOUT_S": "1", "MASTERDATA_RELAY_MAX_BACKOFF_S": "0.5"}
            relay = await spawn_relay(migrated_postgres_url, target, env=quick)
            started.append(relay)
            await write_locations(app.runtime, 300)
            await reached(target, 300, relay)
            await nats_server.stop()
            await write_locations(app.runtime, 700)

            async def lag_reported() -> bool:
                metrics = await relay.metrics()
                return (
                    metrics["masterdata_relay_nats_connected"] == 0
                    and metrics["masterdata_relay_lag_events"] == 700
                    and metrics["masterdata_relay_lag_seconds"] > 0
                )

            await eventually(lag_reported, 10, "the lag of 700 events while NATS is down")
            await nats_server.start()
            await everything_arrives(app, target)

            async def drained() -> bool:
                return (await relay.metrics())["masterdata_relay_lag_events"] == 0

            await eventually(drained, 10, "the lag back to 0")
            assert await relay.stop() == 0, relay.log  # SIGTERM: a clean exit
    finally:
        await nats_server.close()


def commodity_rows(count: int) -> bytes:
    lines = ["Name,Category,HSN Code,GST Rate (%),Trade Unit,Default Currency"]
    lines += [f"Bulk {i:06d},Fibre,52010010,5,BALE,INR" for i in range(count)]
    return ("\n".join(lines) + "\n").encode()


async def test_a_bulk_import_reaches_the_stream_completely(
    app: App, migrated_postgres_url: str, target: Target
) -> None:
    async with relays() as started:
        started.append(await spawn_relay(migrated_postgres_url, target))
        async with aio.insecure_channel(
            f"127.0.0.1:{app.port}", options=[("grpc.max_send_message_length", 64 << 20)]
        ) as channel:
            stub = commodity_pb2_grpc.CommodityServiceStub(channel)
            request = pb.ImportCommoditiesRequest(
                csv_data=commodity_rows(BULK_ROWS), batch_size=5000
            )
            async for item in stub.ImportCommodities(request):
                if item.WhichOneof("kind") == "summary":
                    assert item.summary.created == BULK_ROWS, item.summary
        expected = await everything_arrives(app, target, timeout_s=60)
    assert len(expected) >= BULK_ROWS
