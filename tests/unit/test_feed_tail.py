"""TailReader: one read of what is new per wake-up, retained, on an in-memory event tail.

`MemoryTail` is a second implementation of the two reads the reader needs (the
SqlEventStore one runs in tests/test_events_*.py on both databases): a list of
events, with the statements counted and a switch to fail or stall them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from support import eventually

from masterdata.server.events.retained import RetainedEvents
from masterdata.server.events.tail import TailReader
from masterdata.v1 import events_pb2


@dataclass
class MemoryTail:
    """Committed events in sequence order."""

    events: list[events_pb2.Event] = field(default_factory=list)
    queries: int = 0
    failing: bool = False
    gate: asyncio.Event | None = None

    def commit(self, count: int = 1) -> None:
        last = self.events[-1].sequence if self.events else 0
        self.events.extend(events_pb2.Event(sequence=last + n) for n in range(1, count + 1))

    async def select_events(self, *, gt: int, limit: int) -> list[events_pb2.Event]:
        await self._statement()
        return [e for e in self.events if e.sequence > gt][:limit]

    async def max_sequence(self) -> int:
        await self._statement()
        return self.events[-1].sequence if self.events else 0

    async def close(self) -> None:
        """Nothing to release (the hub closes its store at stop)."""

    async def _statement(self) -> None:
        self.queries += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.failing:
            raise OSError("the database is down")


@dataclass
class Listening:
    """A LISTEN connection that is up (or not) and never notifies by itself."""

    connected: bool

    async def run(self) -> None:
        await asyncio.Event().wait()


@dataclass
class Reader:
    """A TailReader, its table, whether anyone wants its events, its head at each move."""

    tail: TailReader
    table: MemoryTail
    wanted: list[bool]
    moves: list[int]


def make_reader(
    *, batch_size: int = 3, poll_interval_s: float = 60.0, listener: Listening | None = None
) -> Reader:
    table, wanted, moves = MemoryTail(), [True], []
    tail = TailReader(
        table,
        RetainedEvents(10),
        poll_interval_s=poll_interval_s,
        batch_size=batch_size,
        wanted=lambda: wanted[0],
        moved=lambda: moves.append(tail.head),  # the head as each wave will find it
        listener=listener,  # type: ignore[arg-type]
    )
    return Reader(tail, table, wanted, moves)


@pytest.fixture
async def reader() -> AsyncIterator[Reader]:
    started = make_reader()
    started.tail.start()
    await started.tail.sync()
    yield started
    await started.tail.stop()


def spans(retained: RetainedEvents) -> list[tuple[int, int]]:
    return [(b.after, b.last) for b in retained.batches]


async def test_the_first_read_learns_the_head_without_reading_events() -> None:
    reader = make_reader()
    reader.table.commit(5)
    assert not reader.tail.ready
    reader.tail.start()
    try:
        await reader.tail.sync()
        assert reader.tail.ready and reader.tail.head == 5
        assert reader.table.queries == 1, "one max(sequence), no page of old events"
        assert not reader.tail.retained.batches
        assert reader.moves == [5]
    finally:
        await reader.tail.stop()


async def test_a_wake_up_reads_what_is_new_in_batches_and_retains_it(reader: Reader) -> None:
    queries = reader.table.queries
    reader.table.commit(7)
    reader.tail.wake()
    await reader.tail.sync()
    assert reader.tail.head == 7
    assert spans(reader.tail.retained) == [(0, 3), (3, 6), (6, 7)]
    assert [e.sequence for b in reader.tail.retained.batches for e in b.events] == list(range(1, 8))
    assert reader.table.queries - queries == 3, "pages of batch_size until a short one"
    assert reader.moves == [3, 6, 7], "the head moves once per batch, after it is retained"


async def test_a_burst_of_new_subscriptions_costs_one_read(reader: Reader) -> None:
    queries = reader.table.queries
    reader.table.commit()
    reader.tail.hint()  # the reader may not have run yet: every sync() waits for it
    await asyncio.gather(*(reader.tail.sync() for _ in range(50)))
    assert reader.tail.head == 1
    assert reader.table.queries - queries == 1


async def test_sync_reads_nothing_when_no_commit_was_hinted_since_the_last_read(
    reader: Reader,
) -> None:
    queries = reader.table.queries
    reader.table.commit()  # committed elsewhere, not hinted: the poll will find it
    await asyncio.wait_for(reader.tail.sync(), 0.5)
    assert reader.table.queries == queries and reader.tail.head == 0


async def test_a_hint_wakes_the_reader_only_while_listen_is_down() -> None:
    listener = Listening(connected=True)
    reader = make_reader(listener=listener)
    reader.tail.start()
    try:
        await reader.tail.sync()
        reader.table.commit()
        reader.tail.hint()  # the commit's NOTIFY will wake the reader
        await asyncio.sleep(0.05)
        assert reader.tail.head == 0
        await reader.tail.sync()  # ...but a new subscription does not wait for it
        assert reader.tail.head == 1
        listener.connected = False
        reader.table.commit()
        reader.tail.hint()
        await eventually(lambda: reader.tail.head == 2, within_s=5.0)
    finally:
        await reader.tail.stop()


async def test_a_poll_reads_without_any_hint() -> None:
    reader = make_reader(poll_interval_s=0.05)
    reader.tail.start()
    try:
        await reader.tail.sync()
        reader.table.commit(2)
        await eventually(lambda: reader.tail.head == 2, within_s=5.0)
    finally:
        await reader.tail.stop()


async def test_while_nobody_subscribes_reads_are_skipped_then_the_head_skips_ahead(
    reader: Reader,
) -> None:
    reader.table.commit(2)
    reader.tail.wake()
    await reader.tail.sync()
    assert spans(reader.tail.retained) == [(0, 2)]
    reader.wanted[0] = False
    queries = reader.table.queries
    reader.table.commit(40)
    reader.tail.wake()
    await reader.tail.sync()
    assert reader.table.queries == queries, "nobody to publish to: no statement per commit"
    assert reader.tail.head == 2
    reader.wanted[0] = True
    await reader.tail.sync()  # the next subscriber's sync() asks for a read
    assert reader.tail.head == 42
    assert reader.table.queries == queries + 1, "one max(sequence), not 40 events"
    assert not reader.tail.retained.batches, "what was skipped is not covered"
    assert reader.moves[-1] == 42


async def test_a_failed_read_does_not_end_the_feed() -> None:
    reader = make_reader(poll_interval_s=0.05)
    reader.table.failing = True
    reader.tail.start()
    try:
        await asyncio.wait_for(reader.tail.sync(), 2.0)  # the failed read is done too
        assert not reader.tail.ready
        reader.table.failing = False
        reader.table.commit(4)
        await eventually(lambda: reader.tail.ready and reader.tail.head == 4, within_s=5.0)
    finally:
        await reader.tail.stop()


async def test_resync_forgets_what_was_read_and_rereads_the_head(reader: Reader) -> None:
    reader.table.commit(4)
    reader.tail.wake()
    await reader.tail.sync()
    assert reader.tail.head == 4 and reader.tail.retained.batches
    reader.table.events.clear()  # the table was emptied
    await reader.tail.resync()
    assert reader.tail.head == 0 and not reader.tail.retained.batches


async def test_stop_releases_sync_callers_waiting_for_a_read(reader: Reader) -> None:
    reader.table.gate = asyncio.Event()  # the next statement never ends
    reader.tail.wake()
    waiting = asyncio.create_task(reader.tail.sync(timeout_s=30.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await reader.tail.stop()
    await asyncio.wait_for(waiting, 1.0)
    reader.table.gate = None
    reader.tail.start()  # the fixture stops it again
