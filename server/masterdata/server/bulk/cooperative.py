"""CPU work over the rows of a batch in slices, with the event loop served in between.

A bulk import is background work sharing the event loop with interactive calls.
Between slices it lets the loop serve them: at once when nobody waits, and while
calls of other clients are in flight, for as long as the slice took, so that the
import then takes at most about half of the loop. Without that it took most of
it: in a 100,000-row import beside 100 calls/s, reads queued behind slice after
slice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Rows per slice: a few milliseconds of CPU at the ~30-50 µs a row of each step.
SLICE_ROWS = 100
#: Longest pause between two slices (a slice that ran long is not paid back in full).
MAX_PAUSE_S = 0.01

#: Whether calls of other clients wait on this process; set by the import running here.
_others_waiting: ContextVar[Callable[[], bool] | None] = ContextVar("others_waiting", default=None)


def give_way_while(others_waiting: Callable[[], bool]) -> None:
    """From here on in this task (and the tasks it starts), pause while `others_waiting()`."""
    _others_waiting.set(others_waiting)


async def give_way(spent_s: float) -> None:
    """Let the loop serve others after `spent_s` seconds of CPU work."""
    waiting = _others_waiting.get()
    await asyncio.sleep(min(spent_s, MAX_PAUSE_S) if waiting is not None and waiting() else 0)


async def sliced(
    rows: Sequence[T], work: Callable[[Sequence[T]], list[R]], size: int = SLICE_ROWS
) -> list[R]:
    """`work(rows)`, done a slice at a time, giving way to the event loop between slices.

    Why: converting, checking and encoding a batch of 1,000 rows takes tens of
    milliseconds of CPU. In one piece it holds up every other call of the process
    for that long (a 100,000-row import put seconds on concurrent reads). Worker
    threads do not help: with the GIL they made the loop wait for its turn too.
    """
    done: list[R] = []
    spent = 0.0
    for start in range(0, len(rows), size):
        if start:
            await give_way(spent)
        began = time.perf_counter()
        done.extend(work(rows[start : start + size]))
        spent = time.perf_counter() - began
    return done
