"""`masterdata relay --once` and the messages it publishes (real NATS, both backends)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from processes import command_env, masterdata_command, run_masterdata
from relay_support import Target, own_stream, stream_sequences, write_locations
from support import make_settings

from masterdata.server.app import build_runtime
from masterdata.server.relay.envelope import AGGREGATE_ID, MSG_ID, SEQUENCE
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
