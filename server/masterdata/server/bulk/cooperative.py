"""CPU work over the rows of a batch in slices, with the event loop served in between."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Rows per slice: a few milliseconds of CPU at the ~30-50 µs a row of each step.
SLICE_ROWS = 100


async def sliced(
    rows: Sequence[T], work: Callable[[Sequence[T]], list[R]], size: int = SLICE_ROWS
) -> list[R]:
    """`work(rows)`, done a slice at a time, yielding to the event loop between slices.

    Why: converting, checking and encoding a batch of 1,000 rows takes tens of
    milliseconds of CPU. In one piece it holds up every other call of the process
    for that long (a 100,000-row import put seconds on concurrent reads). Worker
    threads do not help: with the GIL they made the loop wait for its turn too.
    """
    done: list[R] = []
    for start in range(0, len(rows), size):
        if start:
            await asyncio.sleep(0)
        done.extend(work(rows[start : start + size]))
    return done
