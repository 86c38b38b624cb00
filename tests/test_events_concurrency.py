"""No gaps under concurrency: many writers, commits racing, subscribers see every event once.

How the test would catch a gap: each writer pauses twice inside its transaction,
once before commit() and once *between the event insert and COMMIT* (the wrapped
session.commit below). That second pause is exactly the window in which, without
the advisory lock of storage/postgres/__init__.py, a transaction holding sequence N could
commit after one holding N+1: a subscriber woken by N+1 would move its position
past N and never deliver it, and the exactly-once-in-order assertion against
ListEvents would fail. With the lock, appends queue and commit in sequence order.
Checked by hand: with the lock replaced by pg_advisory_xact_lock_shared (which
excludes nobody), the first round fails every time, missing one to three events.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from feed_support import (
    assert_exactly_once_in_order,
    list_all,
    location_row,
    subscribe,
)
from grpc import aio
from support import events, make_settings

from masterdata.server.app import App, build
from masterdata.server.families.locations import LOCATION
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import record_event
from masterdata.server.storage.engine import Database

WRITERS = 20
WRITES = {"postgresql": 100, "sqlite": 15}
ROUNDS = {"postgresql": 2, "sqlite": 2}


@pytest.fixture
async def roomy_app(database_url: str, db: Database) -> AsyncIterator[App]:
    """A server whose pool outnumbers the writers, so reads are not starved of connections.

    Twenty writers queueing on the event lock would otherwise hold every connection
    of the default pool (10 + 10) for the whole burst; that is a pool sizing matter,
    not what this test is about.
    """
    server = build(make_settings(database_url, pool_size=WRITERS + 10, max_overflow=10))
    await server.start()
    yield server
    await server.stop(0)


@pytest.fixture
async def roomy_channel(roomy_app: App) -> AsyncIterator[aio.Channel]:
    async with aio.insecure_channel(f"127.0.0.1:{roomy_app.port}") as channel:
        yield channel


class Writers:
    """Concurrent writers whose transactions overlap and linger before committing."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.committed = 0
        self.half_done = asyncio.Event()
        self.half = 0
        self.open_now = 0
        self.most_open = 0

    async def write(
        self, name: str, *, inner_pause_s: float = 0.0, gate: Gate | None = None, events: int = 1
    ) -> int:
        caller = Caller(call_id=uuid.uuid4().hex[:16])
        async with self.runtime.unit_of_work(caller) as uow:
            self.open_now += 1
            self.most_open = max(self.most_open, self.open_now)
            try:
                row = location_row(uow, name)
                uow.session.add(row)
                await uow.session.flush()
                for _ in range(events):
                    record_event(uow, LOCATION, row, "created")
                await asyncio.sleep(random.uniform(0, 0.003))
                _pause_before_commit(uow.session, inner_pause_s, gate)
                await uow.commit()
            finally:
                self.open_now -= 1
        self.committed += 1
        if self.committed == self.half:
            self.half_done.set()
        return self.committed

    async def writer(self, index: int, writes: int) -> None:
        for i in range(writes):
            pause = random.uniform(0, 0.001)
            await self.write(f"w{index}-{i}", inner_pause_s=pause)


class Gate:
    """Holds a transaction between its event insert and COMMIT until opened."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.opened = asyncio.Event()


def _pause_before_commit(session: Any, pause_s: float, gate: Gate | None) -> None:
    """Delay COMMIT itself: the events are inserted (sequence taken) but not yet visible."""
    commit = session.commit

    async def slow_commit() -> None:
        if pause_s:
            await asyncio.sleep(pause_s)
        if gate is not None:
            gate.reached.set()
            await gate.opened.wait()
        await commit()

    session.commit = slow_commit


async def _round(app: App, channel: aio.Channel, writes: int) -> None:
    known = await list_all(channel)
    start = known[-1].sequence if known else 0
    early = subscribe(channel, after_sequence=start)
    writers = Writers(app.runtime)
    total = WRITERS * writes
    writers.half = total // 2
    tasks = [asyncio.create_task(writers.writer(i, writes)) for i in range(WRITERS)]
    await writers.half_done.wait()
    so_far = await list_all(channel, after_sequence=start)
    joined_after = so_far[len(so_far) // 2].sequence
    late = subscribe(channel, after_sequence=joined_after)
    try:
        await asyncio.gather(*tasks)
        expected = [e.sequence for e in await list_all(channel, after_sequence=start)]
        assert len(expected) == total
        for sub in (early, late):
            await sub.wait_for_sequence(expected[-1], timeout_s=20)
        assert writers.most_open > 1, "the writers' transactions never overlapped"
        assert_exactly_once_in_order(early.sequences, expected)
        assert_exactly_once_in_order(late.sequences, [s for s in expected if s > joined_after])
        assert len(early.caught_up) == len(late.caught_up) == 1
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await early.cancel()
        await late.cancel()


async def test_concurrent_writers_and_subscribers(roomy_app: App, roomy_channel) -> None:
    dialect = roomy_app.runtime.db.dialect
    for _ in range(ROUNDS[dialect]):
        await _round(roomy_app, roomy_channel, WRITES[dialect])


@pytest.mark.parametrize("first_events, second_events", [(1, 1), (150, 1), (1, 150)])
async def test_event_appends_commit_in_sequence_order(
    app: App, db: Database, first_events: int, second_events: int
) -> None:
    """The mechanism itself: a second append waits until the first one has committed.

    PostgreSQL: the advisory lock, before one statement or (150 events) before COPY;
    SQLite: the single BEGIN IMMEDIATE writer.
    """
    writers = Writers(app.runtime)
    gate = Gate()
    first = asyncio.create_task(writers.write("first", gate=gate, events=first_events))
    await gate.reached.wait()  # first has inserted its events and now waits before COMMIT
    second = asyncio.create_task(writers.write("second", events=second_events))
    done, _ = await asyncio.wait({second}, timeout=0.5)
    assert not done, "a second append committed while an earlier one was still open"
    gate.opened.set()
    await asyncio.gather(first, second)
    rows = await events(app.runtime.db)
    names = [LOCATION.message.FromString(row.resource).name for row in rows]
    assert names == ["first"] * first_events + ["second"] * second_events
