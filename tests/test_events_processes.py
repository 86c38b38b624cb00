"""Two `masterdata serve` processes on one PostgreSQL: the feed crosses processes.

Writes go through process A; a subscriber of process B receives them through
LISTEN/NOTIFY (B's polling is set to 30 s, so only a notification can make the
one-second bound), survives B's restart by resuming from its last sequence, and
ends up with exactly the events ListEvents reports, each once.
"""

from __future__ import annotations

import asyncio
import time

import grpc
from feed_support import assert_exactly_once_in_order, list_all, subscribe
from grpc import aio
from processes import running_server, start_server

from masterdata.v1 import location_pb2 as loc
from masterdata.v1 import location_pb2_grpc

SMALL_POOL = {
    "MASTERDATA_POOL_SIZE": "3",
    "MASTERDATA_MAX_OVERFLOW": "3",
    "MASTERDATA_READ_POOL_SIZE": "3",
}
#: B polls too rarely to meet the one-second bound: only NOTIFY can.
NOTIFY_ONLY = SMALL_POOL | {"MASTERDATA_FEED_POLL_INTERVAL_S": "30"}


async def create(stub: location_pb2_grpc.LocationServiceStub, name: str) -> None:
    await stub.CreateLocation(loc.CreateLocationRequest(location=loc.Location(name=name)))


async def test_feed_across_processes_and_resume_after_restart(migrated_postgres_url: str) -> None:
    async with (
        running_server(migrated_postgres_url, SMALL_POOL) as a,
        aio.insecure_channel(a.target) as ca,
    ):
        writer = location_pb2_grpc.LocationServiceStub(ca)
        b = await start_server(migrated_postgres_url, NOTIFY_ONLY)
        try:
            async with aio.insecure_channel(b.target) as cb:
                first = subscribe(cb)
                await first.wait_until(lambda r: r.caught_up)
                for i in range(5):
                    written = time.monotonic()
                    await create(writer, f"via A {i}")
                    await first.wait_for_sequence(i + 1, timeout_s=5)
                    assert time.monotonic() - written < 1.0, "not delivered within a second"
                assert await b.terminate() == 0, b.describe()
                error = await first.ended(timeout_s=5)
                assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
        finally:
            await b.kill()
        for i in range(5):  # committed while B is down
            await create(writer, f"while B is down {i}")
        async with (
            running_server(migrated_postgres_url, NOTIFY_ONLY) as b2,
            aio.insecure_channel(b2.target) as cb2,
        ):
            resumed = subscribe(cb2, after_sequence=first.sequences[-1])
            await resumed.wait_until(lambda r: r.caught_up)
            for i in range(3):
                await create(writer, f"after restart {i}")
            await resumed.wait_for_sequence(13, timeout_s=5)
            await asyncio.sleep(0.2)  # nothing more may arrive
            await resumed.cancel()
        expected = [e.sequence for e in await list_all(ca)]
    assert expected == list(range(1, 14))
    assert_exactly_once_in_order(first.sequences + resumed.sequences, expected)
