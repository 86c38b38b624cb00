"""What the servers logged: errors to show with a failing call, and the status each
call ended with on the server (the call boundary's access log)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
from collections.abc import Iterator

import grpc

from fuzz.calls import Outcome

#: What grpc's asyncio client reports when a write meets the end of the call.
CORE_ERROR = "Internal error from Core"


class ServerLog(logging.Handler):
    """The servers' warnings and errors, kept to be shown with a failing call, and the
    status each call ended with on the server (from the call boundary's access log)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: collections.deque[logging.LogRecord] = collections.deque(maxlen=500)
        self.statuses: dict[str, str] = {}
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.records.append(record)
        status, call_id = getattr(record, "status", None), getattr(record, "request_id", None)
        if status and call_id:
            self.statuses[str(call_id)] = str(status)
            if len(self.statuses) > 1000:  # the oldest were never asked for
                del self.statuses[next(iter(self.statuses))]

    def of_call(self, call_id: str) -> str:
        return "\n".join(self.format(r) for r in self.records if call_id in r.getMessage())

    async def server_side(self, call_id: str, outcome: Outcome) -> Outcome:
        """The server's status where grpc's asyncio client reports a write that met the
        end of the call as INTERNAL "Internal error from Core" (grpc/grpc#36066)."""
        if outcome.code != grpc.StatusCode.INTERNAL or outcome.details != CORE_ERROR:
            return outcome
        for _ in range(100):
            if call_id in self.statuses:
                code = grpc.StatusCode[self.statuses.pop(call_id)]
                return dataclasses.replace(outcome, code=code, details=f"(server) {code.name}")
            await asyncio.sleep(0.01)
        return outcome

    @contextlib.contextmanager
    def attached(self) -> Iterator[None]:
        """Hear the servers' loggers; the access log at INFO only here, not in pytest's."""
        access, server = logging.getLogger("masterdata.rpc"), logging.getLogger("masterdata")
        level, propagate = access.level, access.propagate
        access.setLevel(logging.INFO)
        access.propagate = False
        access.addHandler(self)
        server.addHandler(self)
        try:
            yield
        finally:
            server.removeHandler(self)
            access.removeHandler(self)
            access.setLevel(level)
            access.propagate = propagate
