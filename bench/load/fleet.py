"""A group of spawned worker processes, each driven over its own pipe.

Spawned, not forked: a forked child would inherit the orchestrator's grpc and
asyncio state, which grpc does not support.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

JOIN_TIMEOUT_S = 30.0


async def receive(pipe: Connection) -> Any:
    """The next message on `pipe`, waiting in the event loop rather than a thread."""
    loop = asyncio.get_running_loop()
    while not pipe.poll():
        readable = loop.create_future()
        loop.add_reader(pipe.fileno(), _wake, readable)
        try:
            await readable
        finally:
            loop.remove_reader(pipe.fileno())
    return pipe.recv()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Fleet:
    """Processes running `target(pipe, *args)`, one per entry of `args_list`."""

    def __init__(self, target: Callable[..., None], args_list: Sequence[tuple[Any, ...]]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes: list[BaseProcess] = []
        for args in args_list:
            mine, theirs = context.Pipe()
            process = context.Process(target=target, args=(theirs, *args), daemon=True)
            process.start()
            theirs.close()
            self.pipes.append(mine)
            self.processes.append(process)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    async def receive(self, timeout_s: float) -> list[Any]:
        """One message from every process (EOFError if one died)."""
        async with asyncio.timeout(timeout_s):
            return list(await asyncio.gather(*(receive(pipe) for pipe in self.pipes)))

    def send(self, message: tuple[Any, ...]) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def close(self) -> None:
        """Close the pipes, wait for the processes to leave, kill the ones that do not.

        A process still waiting for a command sees EOF and ends.
        """
        for pipe in self.pipes:
            pipe.close()
        for process in self.processes:
            process.join(JOIN_TIMEOUT_S)
            if process.is_alive():
                process.kill()
                process.join()
