"""FanOut: waking waiting subscribers in waves, a cohort at a time, with pauses."""

from __future__ import annotations

import asyncio

import pytest
from support import record_sleeps

from masterdata.server.events.fan_out import WAKE_COHORT, WAVE_REST, FanOut
from masterdata.server.resources.activity import UnaryCalls

#: The name of the fan-out task whose pauses are recorded.
FAN_OUT = "fan-out-under-test"


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the fan-out asks of asyncio.sleep besides its bare yields."""
    return record_sleeps(monkeypatch, FAN_OUT, keep_zero=False)


async def fan_out_once(fan_out: FanOut, subscribers: int) -> list[int]:
    """Wake `subscribers` waiters with one move of the head; the order in which they ran."""
    ran: list[int] = []

    async def subscriber(number: int) -> None:
        assert await fan_out.wait(10.0)
        ran.append(number)
        for _ in range(200):  # some work per woken subscriber, so a cohort takes time
            pass

    tasks = [asyncio.create_task(subscriber(n)) for n in range(subscribers)]
    await asyncio.sleep(0)
    assert fan_out.waiting == subscribers
    task = asyncio.create_task(fan_out.run(), name=FAN_OUT)
    fan_out.moved()
    await asyncio.wait_for(asyncio.gather(*tasks), 10.0)
    task.cancel()
    return ran


async def test_every_waiting_subscriber_is_woken_once_in_cohorts(pauses: list[float]) -> None:
    fan_out = FanOut()
    ran = await fan_out_once(fan_out, 3 * WAKE_COHORT + 7)
    assert ran == list(range(3 * WAKE_COHORT + 7))  # in the order they began to wait
    assert len(pauses) == 1, "no pauses between cohorts (nobody else was served), one rest"
    assert not fan_out.waiting
    assert fan_out.waves == 1


async def test_a_wave_of_many_cohorts_rests_for_part_of_the_time_it_took(
    pauses: list[float],
) -> None:
    loop = asyncio.get_running_loop()
    began = loop.time()
    await fan_out_once(FanOut(), 2 * WAKE_COHORT + 1)
    [rest] = pauses
    assert 0 < rest <= WAVE_REST * (loop.time() - began)


async def test_a_wave_of_one_cohort_does_not_rest(pauses: list[float]) -> None:
    ran = await fan_out_once(FanOut(UnaryCalls(in_flight=3)), WAKE_COHORT - 1)
    assert len(ran) == WAKE_COHORT - 1
    assert not pauses


async def test_the_fan_out_pauses_between_cohorts_while_unary_calls_are_in_flight(
    pauses: list[float],
) -> None:
    await fan_out_once(FanOut(UnaryCalls(in_flight=3)), 3 * WAKE_COHORT + 7)
    *between_cohorts, _rest = pauses
    assert len(between_cohorts) == 3  # after each full cohort
    assert all(0 < pause <= 0.05 for pause in between_cohorts)


async def test_moves_of_the_head_during_a_wave_come_together_in_the_next() -> None:
    fan_out = FanOut()
    task = asyncio.create_task(fan_out.run())
    waiting = asyncio.create_task(fan_out.wait(10.0))
    await asyncio.sleep(0)
    for _ in range(3):  # before the fan-out task runs: one wave for all three
        fan_out.moved()
    assert await asyncio.wait_for(waiting, 10.0)
    assert fan_out.waves == 1
    task.cancel()


async def test_a_subscriber_that_times_out_leaves_the_waiters() -> None:
    fan_out = FanOut()
    assert not await fan_out.wait(0.01)
    assert not await fan_out.wait(-1.0)  # a deadline already past
    assert not fan_out.waiting


async def test_release_wakes_every_waiter_at_once_outside_any_wave() -> None:
    fan_out = FanOut()
    waiting = [asyncio.create_task(fan_out.wait(10.0)) for _ in range(3)]
    await asyncio.sleep(0)
    fan_out.release()
    assert await asyncio.wait_for(asyncio.gather(*waiting), 1.0) == [True] * 3
    assert fan_out.waves == 0 and not fan_out.waiting


async def test_stop_wakes_the_waiters_and_ends_the_task() -> None:
    fan_out = FanOut()
    fan_out.start()
    waiting = asyncio.create_task(fan_out.wait(10.0))
    await asyncio.sleep(0)
    await fan_out.stop()
    assert await asyncio.wait_for(waiting, 1.0)
    fan_out.moved()  # no task left to begin a wave
    await asyncio.sleep(0.01)
    assert fan_out.waves == 0
