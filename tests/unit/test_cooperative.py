"""Bulk CPU work in slices: it gives the loop back between slices, and while N other
calls are in flight it pauses N times as long as the slice took (up to a cap)."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Sequence

import pytest

from masterdata.server.bulk import cooperative
from masterdata.server.bulk.cooperative import MAX_PAUSE_S, give_way_while, sliced


def busy_for(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def run_sliced(others_waiting: int | None, slice_s: float) -> list[int]:
    """Three slices of `slice_s` CPU each; unless None, in an import with that many
    other calls in flight."""
    if others_waiting is not None:
        calls: int = others_waiting
        give_way_while(lambda: calls)

    def work(part: Sequence[int]) -> list[int]:
        busy_for(slice_s)
        return [n * 2 for n in part]

    return await sliced(list(range(9)), work, size=3)


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    asked: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        asked.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(cooperative.asyncio, "sleep", recording_sleep)
    return asked


async def in_own_context(others_waiting: int | None, slice_s: float) -> list[int]:
    """The run in a context of its own, as each call's task has."""
    task = asyncio.get_running_loop().create_task(
        run_sliced(others_waiting, slice_s), context=contextvars.copy_context()
    )
    return await task


async def test_without_waiting_calls_it_only_yields(pauses: list[float]) -> None:
    assert await in_own_context(0, 0.002) == [n * 2 for n in range(9)]
    assert pauses == [0, 0]


async def test_outside_an_import_it_only_yields(pauses: list[float]) -> None:
    assert await in_own_context(None, 0.002) == [n * 2 for n in range(9)]
    assert pauses == [0, 0]


async def test_while_calls_wait_it_pauses_per_call_as_long_as_the_slice_took(
    pauses: list[float],
) -> None:
    await in_own_context(3, 0.004)
    assert len(pauses) == 2
    assert all(3 * 0.004 <= pause <= MAX_PAUSE_S for pause in pauses), pauses


async def test_a_long_slice_pauses_at_most_the_cap(pauses: list[float]) -> None:
    await in_own_context(1, MAX_PAUSE_S * 2)
    assert pauses == [MAX_PAUSE_S, MAX_PAUSE_S]
