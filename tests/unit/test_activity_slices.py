"""Bulk CPU work in slices: it gives the loop back between slices, and while N other
calls are in flight it pauses N times as long as the slice took (up to a cap); a call
that started since the last slice counts as one even if it is already over."""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Callable, Sequence

import pytest
from support import record_sleeps

from masterdata.server.resources.activity import MAX_PAUSE_S, UnaryCalls, give_way_to, sliced

SLICE_S = 0.004
#: The name of the task whose pauses are recorded.
UNDER_TEST = "under-test"


def busy_for(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays that sliced() asks of asyncio.sleep."""
    return record_sleeps(monkeypatch, UNDER_TEST)


async def three_slices(
    calls: UnaryCalls | None, slice_s: float = SLICE_S, during: Callable[[], None] = lambda: None
) -> list[int]:
    """Three slices of `slice_s` CPU each, in a task of its own (each call has one);
    unless `calls` is None, in an import that gives way to them."""

    async def run() -> list[int]:
        if calls is not None:
            give_way_to(calls)

        def work(part: Sequence[int]) -> list[int]:
            busy_for(slice_s)
            during()
            return [n * 2 for n in part]

        return await sliced(list(range(9)), work, size=3)

    loop = asyncio.get_running_loop()
    return await loop.create_task(run(), name=UNDER_TEST, context=contextvars.copy_context())


async def test_outside_an_import_it_only_yields(pauses: list[float]) -> None:
    assert await three_slices(None) == [n * 2 for n in range(9)]
    assert pauses == [0, 0]


async def test_with_no_calls_it_only_yields(pauses: list[float]) -> None:
    assert await three_slices(UnaryCalls()) == [n * 2 for n in range(9)]
    assert pauses == [0, 0]


async def test_it_pauses_per_call_in_flight_as_long_as_the_slice_took(
    pauses: list[float],
) -> None:
    await three_slices(UnaryCalls(in_flight=3))
    assert len(pauses) == 2
    assert all(3 * SLICE_S <= pause <= MAX_PAUSE_S for pause in pauses), pauses


async def test_a_call_that_came_and_went_still_counts(pauses: list[float]) -> None:
    calls = UnaryCalls()

    def one_call_meanwhile() -> None:
        calls.started += 1  # started and over while the slice ran: never seen in flight

    await three_slices(calls, during=one_call_meanwhile)
    assert len(pauses) == 2
    assert all(SLICE_S <= pause <= MAX_PAUSE_S for pause in pauses), pauses


async def test_a_long_slice_pauses_at_most_the_cap(pauses: list[float]) -> None:
    await three_slices(UnaryCalls(in_flight=1), slice_s=MAX_PAUSE_S * 2)
    assert pauses == [MAX_PAUSE_S, MAX_PAUSE_S]
