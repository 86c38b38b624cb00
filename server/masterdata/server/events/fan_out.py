"""Waking the caught-up subscribers: in waves, a cohort at a time, giving way to calls.

Fan-out at scale (measured with 10,000 subscriptions beside the load mix):
caught-up subscribers are woken in waves by a task of their own (`FanOut.run`), at
most one item each per wave, a cohort at a time with pauses for unary calls in
between; a big wave then rests. Woken all at once, 10,000 of them queued 10,000
steps on the loop at every commit, and as grpc.aio accepts new calls one per turn
of the loop, every unary call of the process waited until its deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from masterdata.server.resources.activity import UnaryCalls, give_way, give_way_to

#: Subscribers woken at once; unary calls get a turn of the loop between cohorts.
WAKE_COHORT = 200
#: Rest after a wave of many cohorts, as a fraction of the time the wave took.
WAVE_REST = 0.5
#: Longest wait for the cohort before the last to be done sending, before the next.
COHORT_WAIT_S = 0.05


class FanOut:
    """Subscribers waiting for the head to move, and the task that wakes them in waves."""

    def __init__(self, calls: UnaryCalls | None = None) -> None:
        #: The process's unary calls, which the fan-out gives way to.
        self.calls = calls
        #: Waves of wake-ups begun.
        self.waves = 0
        # Subscribers waiting for the head to move (an ordered set, woken in cohorts
        # by `run` when `_moved` is set); neither a poll nor a new subscription's
        # sync() wakes them.
        self._waiters: dict[asyncio.Future[None], None] = {}
        self._moved = asyncio.Event()
        # Set once `_waiters` holds `_back_target` subscribers (back from sending).
        self._back = asyncio.Event()
        self._back_target = 0
        self._task: asyncio.Task[Any] | None = None

    @property
    def waiting(self) -> int:
        """Subscribers waiting for the next wave."""
        return len(self._waiters)

    def moved(self) -> None:
        """The head moved: wake the waiting subscribers in the next wave."""
        self._moved.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait to be woken by the next wave (or `release`); False on timeout."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[waiter] = None
        if self._back_target and len(self._waiters) >= self._back_target:
            self._back.set()
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                await waiter
        except TimeoutError:
            return False
        finally:
            self._waiters.pop(waiter, None)
        return True

    def release(self) -> None:
        """Wake every waiting subscriber at once (closing, resync), outside any wave."""
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    # ---- the task ----------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="event-fan-out")

    async def stop(self) -> None:
        """Wake every waiting subscriber and end the task."""
        self.release()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run(self) -> None:
        """After each move of the head, wake the waiting subscribers: a wave, a cohort
        at a time, giving way to unary calls between cohorts.

        While one wave is woken, the head may move again: the next wave then takes
        everything published in between at once. Waves follow each other as fast as
        the process can serve them, so the busier it is, the more events each item
        carries, instead of the feed's cost growing with every commit.
        """
        if self.calls is not None:
            give_way_to(self.calls)
        loop = asyncio.get_running_loop()
        while True:
            await self._moved.wait()
            self._moved.clear()
            self.waves += 1
            waiters, self._waiters = self._waiters, {}
            wave_began = loop.time()
            woken = 0
            for waiter in waiters:
                if waiter.done():
                    continue
                waiter.set_result(None)
                woken += 1
                if woken % WAKE_COHORT == 0:
                    began = loop.time()
                    await self._cohorts_back(woken - WAKE_COHORT)
                    await give_way(loop.time() - began)
            if woken > WAKE_COHORT:
                # A wave of many cohorts rests for half as long as it took: the feed
                # then has at most about two thirds of the loop, and grpc.aio, which
                # accepts new calls one per turn of the loop, keeps accepting them.
                await asyncio.sleep(WAVE_REST * (loop.time() - wave_began))

    async def _cohorts_back(self, count: int) -> None:
        """Let the cohort just woken run; return once `count` of the wave's subscribers
        are back from sending (waiting again), or after COHORT_WAIT_S.

        So at most two cohorts' items are in grpc at once: their send completions
        come back in bunches of a cohort, not of thousands, each turn of the loop
        stays short, and new calls keep being accepted between them.
        """
        if len(self._waiters) >= count:
            await asyncio.sleep(0)
            return
        self._back_target = count
        self._back.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(COHORT_WAIT_S):
                await self._back.wait()
        self._back_target = 0
