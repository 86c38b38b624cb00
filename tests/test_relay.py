"""`masterdata relay --once` and the messages it publishes (real NATS, both backends)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from processes import command_env, masterdata_command, run_masterdata
from relay_support import (
    Target,
    eventually,
    own_stream,
    stream_count,
    stream_sequences,
    write_locations,
)
from support import make_settings

from masterdata.server.app import build_runtime
from masterdata.server.relay.envelope import AGGREGATE_ID, MSG_ID, SEQUENCE, envelope
from masterdata.server.relay.publisher import Desync, Publisher
from masterdata.server.relay.stream import Position
from masterdata.server.storage.engine import Database
from masterdata.v1 import events_pb2


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    async with own_stream() as target:
        yield target


@pytest.fixture(params=["sqlite", "postgres"])
def migrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("migrated_postgres_url"))
    url = f"sqlite+aiosqlite:///{tmp_path / 'relay.db'}"
    result = subprocess.run(
        [*masterdata_command(), "migrate"], env=command_env(url), capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return url


async def write(url: str, count: int) -> list[events_pb2.Event]:
    """`count` events committed, and every event of the database after them."""
    db = await Database.open(make_settings(url))
    try:
        runtime = build_runtime(make_settings(url), db)
        await write_locations(runtime, count, per_commit=7)
        return await runtime.feed.store.select_events(gt=0, limit=100_000)
    finally:
        await db.dispose()


async def relay_once(url: str, target: Target, *flags: str) -> None:
    result = await run_masterdata(["relay", "--once", *flags], url, target.env())
    assert result.returncode == 0, result.stderr


async def test_once_publishes_what_is_pending_in_order_and_only_once(
    migrated_url: str, target: Target
) -> None:
    events = await write(migrated_url, 30)
    await relay_once(migrated_url, target)
    await relay_once(migrated_url, target)  # nothing new: nothing published again
    events = await write(migrated_url, 12)
    await relay_once(migrated_url, target)
    assert await stream_sequences(target) == [e.sequence for e in events]


async def test_a_message_carries_the_event_and_its_headers(
    migrated_postgres_url: str, target: Target
) -> None:
    [event] = await write(migrated_postgres_url, 1)
    await relay_once(migrated_postgres_url, target, "--json")
    nc = await nats.connect(target.nats_url)
    try:
        message = await nc.jetstream().get_msg(target.stream, seq=1)
    finally:
        await nc.close()
    assert message.subject == f"{target.prefix}.location.created"
    headers = message.headers or {}
    assert headers[MSG_ID] == event.event_id
    assert headers[SEQUENCE] == str(event.sequence)
    assert headers[AGGREGATE_ID] == event.aggregate_id
    body = json.loads(message.data or b"")
    assert body["eventId"] == event.event_id
    assert body["resource"]["@type"] == "type.googleapis.com/masterdata.v1.Location"


README = Path(__file__).resolve().parents[1] / "README.md"
SECTION = re.compile(r"^## Events on NATS JetStream\n(.*?)^## ", re.DOTALL | re.MULTILINE)
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def readme_consumer(target: Target) -> str:
    """The README's consumer, pointed at the test's NATS, stream and subjects."""
    section = SECTION.search(README.read_text())
    assert section, "README has no 'Events on NATS JetStream' section"
    [code] = BLOCK.findall(section[1])
    for old, new in (
        ('"nats://127.0.0.1:4222"', f'"{target.nats_url}"'),
        ('"masterdata.>"', f'"{target.prefix}.>"'),
        ('stream="MASTERDATA"', f'stream="{target.stream}"'),
    ):
        assert old in code, old
        code = code.replace(old, new)
    return code


async def consume_lines(code: str, count: int, target: Target) -> list[str]:
    """Run the consumer until it has printed and acknowledged `count` lines; then kill it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-u", "-c", code, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while len(lines) < count:
                lines.append((await process.stdout.readline()).decode().strip())

            async def all_acknowledged() -> bool:
                return await acknowledged(target) >= await stream_count(target)

            await eventually(all_acknowledged, 10, "the consumer's acknowledgements")
    finally:
        process.kill()
        await process.wait()
    return lines


async def acknowledged(target: Target) -> int:
    """The stream sequence up to which the README's durable consumer has acknowledged."""
    nc = await nats.connect(target.nats_url)
    try:
        info = await nc.jetstream().consumer_info(target.stream, "billing")
    finally:
        await nc.close()
    return int(info.ack_floor.stream_seq if info.ack_floor else 0)


async def test_the_readme_consumer_reads_the_stream_and_resumes_where_it_left(
    migrated_postgres_url: str, target: Target
) -> None:
    code = readme_consumer(target)
    first = await write(migrated_postgres_url, 5)
    await relay_once(migrated_postgres_url, target)
    lines = await consume_lines(code, 5, target)
    assert [line.split()[0] for line in lines] == [str(e.sequence) for e in first]
    assert lines[0].split()[1:] == ["location.created", first[0].aggregate_id]
    everything = await write(migrated_postgres_url, 3)
    await relay_once(migrated_postgres_url, target)
    resumed = await consume_lines(code, 3, target)  # the durable consumer remembers the acks
    assert [line.split()[0] for line in resumed] == [str(e.sequence) for e in everything[5:]]


async def test_a_publish_fenced_on_a_stale_position_is_refused(
    migrated_postgres_url: str, target: Target
) -> None:
    """A relay that believes the stream is where it was (a lost lease, a stale read)."""
    first, _second = await write(migrated_postgres_url, 2)
    await relay_once(migrated_postgres_url, target)
    *_, third = await write(migrated_postgres_url, 1)  # not in the stream yet
    nc = await nats.connect(target.nats_url)
    try:
        js = nc.jetstream()
        acked: list[int] = []
        stale = Publisher(
            nc,
            Position(1, first.sequence),
            in_flight=10,
            ack_timeout_s=5,
            on_acked=lambda s, _: acked.append(s),
        )
        await stale.send(envelope(third, target.prefix, "proto"))
        with pytest.raises(Desync):
            await stale.drain()
        assert acked == []
        assert (await js.stream_info(target.stream)).state.messages == 2
    finally:
        await nc.close()


async def test_a_stream_it_does_not_own_stops_the_relay_with_one_line(
    migrated_postgres_url: str, target: Target
) -> None:
    await write(migrated_postgres_url, 1)
    await relay_once(migrated_postgres_url, target)
    nc = await nats.connect(target.nats_url)
    try:
        await nc.jetstream().publish(f"{target.prefix}.other.thing", b"not an event")
    finally:
        await nc.close()
    result = await run_masterdata(["relay", "--once"], migrated_postgres_url, target.env())
    assert result.returncode == 1, result
    assert "was not published by the relay" in result.stderr
    assert "Traceback" not in result.stderr
