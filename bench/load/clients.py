"""A load client process: many connections, one event loop, open-loop arrivals.

The orchestrator starts N of these (one core runs one Python loop) and drives
them over a pipe: ("run", calls_per_s, seconds, poisson) runs one phase at this
process's share of the rate and answers with its recordings; ("stop",) ends it.
Each call is timed from its scheduled send time, so the client's own delays (a
busy loop, the in-flight cap) count against the latency instead of hiding it;
`lag` reports them separately.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

from grpc import aio

from bench.load.arrivals import arrival_offsets
from bench.load.dataset import Dataset
from bench.load.mix import ImportRowsRejected, NoFreeTarget, Operation, Workload, picker

#: Calls one process keeps in flight before it drops arrivals (and counts them).
MAX_IN_FLIGHT = 20_000
CONNECT_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 60.0
DETAILS_PER_CODE = 3


class Recorder:
    """Latency and outcome of every call of one phase."""

    def __init__(self) -> None:
        self.latencies: dict[str, array[float]] = {}
        self.lag: array[float] = array("d")
        self.outcomes: Counter[tuple[str, str, bool]] = Counter()
        #: A few distinct status messages per code: what a pool timeout or a bug said.
        self.details: dict[str, set[str]] = {}
        self.dropped = 0

    def detail(self, code: str, message: str) -> None:
        seen = self.details.setdefault(code, set())
        if len(seen) < DETAILS_PER_CODE:
            seen.add(message[:200])

    def finish(self, op: Operation, code: str, seconds: float) -> None:
        self.latencies.setdefault(op.method, array("d")).append(seconds)
        deliberate = op.deliberate is not None and code == op.deliberate.name
        if op.deliberate is not None and code == "OK":
            code = f"OK_BUT_EXPECTED_{op.deliberate.name}"
        self.outcomes[(op.method, code, deliberate)] += 1

    def result(self) -> dict[str, Any]:
        return {
            "latencies": {m: a.tobytes() for m, a in self.latencies.items()},
            "lag": self.lag.tobytes(),
            "outcomes": dict(self.outcomes),
            "details": {code: sorted(messages) for code, messages in self.details.items()},
            "dropped": self.dropped,
        }


async def fire(w: Workload, op: Operation, due: float, rec: Recorder) -> None:
    loop = asyncio.get_running_loop()
    rec.lag.append(loop.time() - due)
    try:
        await op.call(w)
        code = "OK"
    except aio.AioRpcError as error:
        code = error.code().name
        rec.detail(code, error.details() or "")
    except NoFreeTarget:
        code = "CLIENT_NO_FREE_TARGET"
    except ImportRowsRejected:
        code = "IMPORT_ROW_ERRORS"
    rec.finish(op, code, loop.time() - due)


async def run_phase(w: Workload, rate: float, seconds: float, poisson: bool) -> dict[str, Any]:
    """Offer `rate` calls/s for `seconds`, then wait for the stragglers."""
    loop = asyncio.get_running_loop()
    rec, pick = Recorder(), picker(w.rng)
    tasks: set[asyncio.Task[None]] = set()
    cpu, started = time.process_time(), loop.time()
    numbers_before = len(w.numbers)
    for offset in arrival_offsets(rate, seconds, w.rng, poisson=poisson):
        due = started + offset
        if (delay := due - loop.time()) > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= MAX_IN_FLIGHT:
            rec.dropped += 1
            continue
        task = asyncio.create_task(fire(w, pick(), due, rec))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    sending = loop.time() - started
    if tasks:
        await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
    return rec.result() | {
        "sending_s": sending,
        "wall_s": loop.time() - started,
        "cpu_s": time.process_time() - cpu,
        "unfinished": len(tasks),
        "numbers": w.numbers[numbers_before:],
    }


async def client_main(
    conn: Connection, target: str, connections: int, data: Dataset, client: int, clients: int
) -> None:
    # A distinct channel argument gives every channel its own TCP connection.
    channels = [
        aio.insecure_channel(target, options=[("bench.load.connection", i)])
        for i in range(connections)
    ]
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            await asyncio.gather(*(channel.channel_ready() for channel in channels))
        workload = Workload(channels, data, client, clients, seed=client)
        conn.send(("ready", connections))
        while (command := await loop.run_in_executor(None, conn.recv))[0] == "run":
            _, rate, seconds, poisson = command
            conn.send(await run_phase(workload, rate, seconds, poisson))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


def client_process(
    conn: Connection, target: str, connections: int, data: Dataset, client: int, clients: int
) -> None:
    """Entry point of a spawned client process."""
    asyncio.run(client_main(conn, target, connections, data, client, clients))
