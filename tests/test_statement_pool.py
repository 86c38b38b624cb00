"""The statement pool (storage/postgres/statement_pool.py) of reads and one-row writes:
waits, deadlines, cancelled callers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from support import postgres_dsn

from masterdata.server.domain.errors import DeadlineExceeded, Unavailable
from masterdata.server.storage.postgres.statement_pool import StatementPool

pytestmark = pytest.mark.timeout(60)
SLEEP = "SELECT pg_sleep($1::float8)"


@pytest.fixture
async def pool(postgres_url: str) -> AsyncIterator[StatementPool]:
    """One connection: a second statement waits for the first."""
    pool = StatementPool(
        postgres_dsn(postgres_url), size=1, connect_timeout_s=5, pool_timeout_s=0.5
    )
    yield pool
    await pool.close()


async def one(pool: StatementPool, seconds_left: float | None = 5.0) -> int:
    [record] = await pool.fetch("SELECT $1::int AS n", 1, seconds_left=seconds_left)
    return int(record["n"])


async def test_a_statement_waits_for_the_busy_connection(pool: StatementPool) -> None:
    first = asyncio.create_task(pool.fetch(SLEEP, 0.2, seconds_left=5.0))
    await asyncio.sleep(0.05)
    assert await one(pool) == 1
    await first
    assert pool.in_use() == 0


async def test_no_connection_free_within_the_pool_timeout_is_unavailable(
    pool: StatementPool,
) -> None:
    first = asyncio.create_task(pool.fetch(SLEEP, 1.0, seconds_left=5.0))
    await asyncio.sleep(0.05)
    with pytest.raises(Unavailable) as raised:
        await one(pool)
    assert raised.value.reason == "POOL_TIMEOUT"
    await first
    assert await one(pool) == 1


async def test_a_deadline_cancels_the_statement_and_the_connection_serves_on(
    pool: StatementPool,
) -> None:
    with pytest.raises(DeadlineExceeded):
        await pool.fetch(SLEEP, 10.0, seconds_left=0.2)
    assert await one(pool) == 1  # after the server acknowledged the cancellation
    assert pool.in_use() == 0


async def test_callers_cancelled_while_running_or_waiting_leave_no_connection_behind(
    pool: StatementPool,
) -> None:
    running = asyncio.create_task(pool.fetch(SLEEP, 10.0, seconds_left=None))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(one(pool))
    await asyncio.sleep(0.05)
    running.cancel()
    waiting.cancel()
    for task in (running, waiting):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert pool.in_use() == 0
    assert await one(pool) == 1


async def test_a_connection_the_server_ended_is_replaced(
    pool: StatementPool, postgres_url: str
) -> None:
    [record] = await pool.fetch("SELECT pg_backend_pid() AS pid", seconds_left=5.0)
    admin = await asyncpg.connect(postgres_dsn(postgres_url))
    try:
        await admin.execute("SELECT pg_terminate_backend($1)", record["pid"])
    finally:
        await admin.close()
    await asyncio.sleep(0.1)
    assert await one(pool) == 1
