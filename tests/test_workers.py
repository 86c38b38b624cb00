"""`masterdata serve --workers 2`: two processes on one port and one PostgreSQL.

The kernel spreads connections across the workers (SO_REUSEPORT); each worker has
its own metrics port (metrics_port + index), which tells the test that both of
them really served calls and held subscriptions. Numbers stay gap-free and every
subscriber, whichever worker it is connected to, receives every event.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import urllib.request
from collections.abc import AsyncIterator

import pytest
from feed_support import Recorder, list_all, subscribe
from grpc import aio
from organization_support import numbering
from processes import ServerProcess, run_masterdata, start_server
from support import eventually

from masterdata.v1 import location_pb2 as loc
from masterdata.v1 import location_pb2_grpc, organization_pb2_grpc
from masterdata.v1 import organization_pb2 as org

WORKERS = 2
CHANNELS = 16
NUMBERS = 300
LOCATIONS = 40
SMALL_POOL = {
    "MASTERDATA_POOL_SIZE": "3",
    "MASTERDATA_MAX_OVERFLOW": "3",
    "MASTERDATA_READ_POOL_SIZE": "3",
}


def free_port_pair() -> int:
    """A port P with P and P + 1 free (the two workers' metrics ports)."""
    for _ in range(50):
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with contextlib.suppress(OSError):
                second.bind(("127.0.0.1", port + 1))
                return int(port)
    raise AssertionError("no two consecutive free ports")


def scrape(port: int, name: str) -> float:
    """Sum of the samples of metric `name` on one worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


@pytest.fixture
async def workers(migrated_postgres_url: str) -> AsyncIterator[tuple[ServerProcess, int]]:
    metrics = free_port_pair()
    env = SMALL_POOL | {"MASTERDATA_WORKERS": str(WORKERS), "MASTERDATA_METRICS_PORT": str(metrics)}
    server = await start_server(migrated_postgres_url, env)
    try:
        await all_listening(server)
        yield server, metrics
        assert await server.terminate() == 0, server.describe()
    finally:
        await server.kill()


@contextlib.asynccontextmanager
async def channels(target: str, count: int) -> AsyncIterator[list[aio.Channel]]:
    """`count` channels, each its own TCP connection (so the kernel may pick any worker)."""
    opened = [
        aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(count)
    ]
    try:
        yield opened
    finally:
        for channel in opened:
            await channel.close()


async def test_workers_share_numbering_and_the_feed(workers: tuple[ServerProcess, int]) -> None:
    server, metrics = workers
    async with channels(server.target, CHANNELS) as chans:
        setup = organization_pb2_grpc.OrganizationServiceStub(chans[0])
        numbered = await numbering(setup)
        subscribers: list[Recorder] = [subscribe(channel) for channel in chans]
        for recorder in subscribers:
            await recorder.wait_until(lambda r: r.caught_up)
        # Both workers hold subscriptions.
        held = [scrape(metrics + i, "masterdata_event_subscribers") for i in range(WORKERS)]
        assert all(count > 0 for count in held), held

        request = org.NextDocumentNumberRequest(
            organization_id=numbered.org.id, document_type="INVOICE"
        )
        stubs = [organization_pb2_grpc.OrganizationServiceStub(c) for c in chans]
        replies = await asyncio.gather(
            *(stubs[i % CHANNELS].NextDocumentNumber(request, timeout=60) for i in range(NUMBERS))
        )
        assert sorted(r.number for r in replies) == list(range(1, NUMBERS + 1))
        places = [location_pb2_grpc.LocationServiceStub(c) for c in chans]
        await asyncio.gather(
            *(
                places[i % CHANNELS].CreateLocation(
                    loc.CreateLocationRequest(location=loc.Location(name=f"Yard {i}"))
                )
                for i in range(LOCATIONS)
            )
        )
        served = [
            scrape(
                metrics + i,
                'masterdata_rpc_calls_total{code="OK",method='
                '"/masterdata.v1.OrganizationService/NextDocumentNumber"}',
            )
            for i in range(WORKERS)
        ]
        assert all(count > 0 for count in served), served

        head = await last_sequence(chans[0])
        for recorder in subscribers:
            await recorder.wait_for_sequence(head, timeout_s=20)
            assert recorder.sequences == list(range(1, head + 1))
            await recorder.cancel()


async def last_sequence(channel: aio.Channel) -> int:
    events = await list_all(channel)
    return int(events[-1].sequence)


async def test_a_worker_that_dies_stops_the_others(migrated_postgres_url: str) -> None:
    server = await start_server(migrated_postgres_url, SMALL_POOL | {"MASTERDATA_WORKERS": "2"})
    try:
        await all_listening(server)
        children = child_pids(server.process.pid)
        assert len(children) == WORKERS, children
        os.kill(children[0], signal.SIGKILL)
        async with asyncio.timeout(30):
            code = await server.process.wait()
        assert code == 1, server.describe()
        assert "exited with code" in server.stderr
        await asyncio.sleep(1.0)
        assert not any(alive(pid) for pid in children), "a worker outlived the supervisor"
    finally:
        await server.kill()


async def test_workers_leave_when_the_supervisor_is_killed(migrated_postgres_url: str) -> None:
    server = await start_server(migrated_postgres_url, SMALL_POOL | {"MASTERDATA_WORKERS": "2"})
    await all_listening(server)
    children = child_pids(server.process.pid)
    await server.kill()  # SIGKILL: no chance to pass anything on
    await eventually(lambda: not any(alive(pid) for pid in children), within_s=20)


async def test_workers_are_refused_on_sqlite(tmp_path: object) -> None:
    result = await run_masterdata(
        ["serve", "--workers", "2", "--listen", "127.0.0.1:0"],
        f"sqlite+aiosqlite:///{tmp_path}/one.db",
    )
    assert result.returncode == 2, result.stderr
    assert "--workers needs PostgreSQL" in result.stderr


async def all_listening(server: ServerProcess) -> None:
    """Every worker has logged that it listens (start_server waits for the first)."""
    await eventually(
        lambda: server.stderr.count("masterdata listening on port") >= WORKERS, within_s=30
    )


def child_pids(pid: int) -> list[int]:
    """The worker processes of supervisor `pid` (from /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and "spawn_main" in cmdline(int(entry)):
                children.append(int(entry))
    return sorted(children)


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as file:
        return file.read().replace(b"\0", b" ").decode(errors="replace")
    return ""


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
