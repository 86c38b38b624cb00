"""`masterdata events tail` as a subprocess: bounded, filtered, JSON, following, resuming."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    INTERRUPTED,
    OK,
    cli,
    cli_into_head,
    client_env,
    create_location,
    ok,
    sqlite_server,
    unique,
)
from client_support import TcpProxy
from grpc import aio
from processes import ServerProcess, masterdata_command, running_server, start_server


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    async with sqlite_server(tmp_path_factory) as process:
        yield process


@pytest.fixture
async def channel(server: ServerProcess) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(server.target) as channel:
        yield channel


async def tail_json(server: ServerProcess, *args: str) -> list[dict[str, Any]]:
    out = ok(await cli(server, "events", "tail", "--no-follow", "--json", *args))
    return [json.loads(line) for line in out.splitlines()]


async def test_events_tail_without_follow(server: ServerProcess, channel: aio.Channel) -> None:
    history = await tail_json(server)
    head = int(history[-1]["sequence"]) if history else 0
    city = unique("Akola")
    made = [await create_location(channel, f"{city} {i}", "MH") for i in range(2)]
    events = await tail_json(server, "--after", str(head))
    assert [(e["aggregateId"], e["eventType"]) for e in events] == [
        (m.id, "location.created") for m in made
    ]
    assert events[0]["resource"]["name"] == made[0].name
    skipped = await tail_json(
        server,
        "--after",
        events[0]["sequence"],
        "--type",
        "location.created",
        "--aggregate",
        "location",
    )
    assert [e["aggregateId"] for e in skipped] == [made[1].id]
    assert await tail_json(server, "--after", str(head), "--aggregate", "commodity") == []
    lines = ok(
        await cli(server, "events", "tail", "--no-follow", "--after", str(head))
    ).splitlines()
    assert len(lines) == 2 and "location.created" in lines[0] and made[0].id in lines[0]
    assert lines[0].split()[0] == events[0]["sequence"]


async def test_events_tail_follows_until_interrupted(
    server: ServerProcess, channel: aio.Channel
) -> None:
    history = await tail_json(server)
    head = history[-1]["sequence"] if history else "0"
    process = await asyncio.create_subprocess_exec(
        *masterdata_command(),
        "events",
        "tail",
        "--after",
        head,
        "--aggregate",
        "location",
        env=client_env(server),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        made = await create_location(channel, unique("Guntur"), "AP")
        async with asyncio.timeout(20):
            line = (await process.stdout.readline()).decode()
        assert "location.created" in line and made.id in line
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            code = await process.wait()
        assert code == INTERRUPTED
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def spawn_tail(target: str, *args: str) -> asyncio.subprocess.Process:
    """`masterdata events tail --json <args>` following, its stdout piped."""
    return await asyncio.create_subprocess_exec(
        *masterdata_command(), "events", "tail", "--json", *args, "--target", target,
        env=client_env(None), stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def next_event(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    async with asyncio.timeout(30):
        line = await process.stdout.readline()
    assert line, "events tail ended"
    event: dict[str, Any] = json.loads(line)
    return event


async def create_on(server: ServerProcess, name: str) -> str:
    async with aio.insecure_channel(server.target) as channel:
        return (await create_location(channel, name, "GJ")).id


async def test_events_tail_resumes_across_a_server_restart(tmp_path: Path) -> None:
    """The tail keeps its place when its server stops and another takes over."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'masterdata.db'}"
    first = await start_server(url)
    async with TcpProxy(first.port) as proxy:
        tail = await spawn_tail(proxy.target, "--aggregate", "location")
        try:
            before = await create_on(first, unique("Before"))
            assert (await next_event(tail))["aggregateId"] == before
            assert await first.terminate() == 0  # streams end with UNAVAILABLE
            async with running_server(url) as second:
                proxy.retarget(second.port)
                after = await create_on(second, unique("After"))
                event = await next_event(tail)  # not `before` again: nothing repeated
                assert (event["aggregateId"], event["sequence"]) == (after, "2")
                tail.send_signal(signal.SIGINT)
                async with asyncio.timeout(10):
                    assert await tail.wait() == INTERRUPTED
        finally:
            if tail.returncode is None:
                tail.kill()
                await tail.wait()
            await first.kill()


@pytest.mark.parametrize(
    "args",
    [["events", "tail", "--no-follow", "--json"], ["list", "location", "--all", "--json"]],
    ids=" ".join,
)
async def test_a_reader_that_goes_away_ends_the_command_quietly(
    server: ServerProcess, channel: aio.Channel, args: list[str]
) -> None:
    """`masterdata ... | head -1` exits 0 with nothing on stderr (no "Broken pipe")."""
    city = unique("Unjha")
    for start in range(0, PIPE_FILLING_LOCATIONS, 50):
        await asyncio.gather(
            *(create_location(channel, f"{city} {i}", "GJ") for i in range(start, start + 50))
        )
    whole = ok(await cli(server, *args))
    assert len(whole.encode()) > 4 * PIPE_BYTES  # more than the pipe holds: head leaves early
    result, first = await cli_into_head(server, *args)
    assert first == whole.splitlines(keepends=True)[0]
    assert result.returncode == OK and result.stderr == "", result


#: Linux pipes buffer 64 KiB; the locations' events (about 400 bytes each) fill it.
PIPE_BYTES = 64 * 1024
PIPE_FILLING_LOCATIONS = 1000
