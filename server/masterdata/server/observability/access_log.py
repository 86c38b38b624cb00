"""The access log's line per call, written without a LogRecord.

Why (bench/cpu_per_call.py, three pairs alternated with the access log off): through
`logging`, the line cost the server 60-100 µs of CPU per call — GetCommodity 358-412
µs without it, 460-468 with it — though formatting it alone costs ~9 µs in a loop:
a LogRecord sets some twenty attributes, looks up the thread, the process and the
caller's frame, and the handler takes its lock, formats the time with strftime and
flushes, all on a server whose caches grpc and the kernel keep cold. Here the line is
the same text the configured formatter would make of that record (a test compares
them), written to the same handler's stream under its lock.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

#: The access log's logger (one line per call: api/call_boundary.py).
ACCESS_LOGGER = "masterdata.rpc"


class AccessLog:
    """Writes access lines to `handler`'s stream as text or as JSON objects."""

    def __init__(self, handler: logging.StreamHandler, json_lines: bool) -> None:  # type: ignore[type-arg]
        self.handler = handler
        self._json = json_lines
        #: The time text of the current second: (second, text before the milliseconds).
        self._second = (-1, "")

    def write(
        self, method: str, status: str, seconds: float, identity: str, request_id: str
    ) -> None:
        line = self.line(time.time(), method, status, seconds, identity, request_id)
        handler = self.handler
        with handler.lock:  # type: ignore[union-attr]
            handler.stream.write(line)
            handler.stream.flush()

    def line(
        self,
        now: float,
        method: str,
        status: str,
        seconds: float,
        identity: str,
        request_id: str,
    ) -> str:
        """The line (ending in a newline) `logs.configure_logging`'s formatter makes
        of the access record of a call that ended at `now`."""
        milliseconds = seconds * 1000
        if self._json:
            entry = {
                "time": f"{self._time(now)}.{_msecs(now):03d}+00:00",
                "level": "INFO",
                "logger": ACCESS_LOGGER,
                "message": _message(method, status, milliseconds, identity, request_id),
                "method": method,
                "status": status,
                "duration_ms": round(milliseconds, 2),
                "identity": identity,
                "request_id": request_id,
            }
            return json.dumps(entry) + "\n"
        message = _message(method, status, milliseconds, identity, request_id)
        return f"{self._time(now)},{_msecs(now):03d} INFO {ACCESS_LOGGER}: {message}\n"

    def _time(self, now: float) -> str:
        """The date and time to the second: local for text (as logging.Formatter's
        asctime), UTC ISO 8601 for JSON (as logs.JsonFormatter's), made once a second."""
        second = int(now)
        if second != self._second[0]:
            if self._json:
                text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            else:
                text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = (second, text)
        return self._second[1]


def _msecs(now: float) -> int:
    """The milliseconds of `now`, as LogRecord computes them."""
    return int((now - int(now)) * 1000)


def _message(method: str, status: str, milliseconds: float, identity: str, request_id: str) -> str:
    who = identity or "-"
    return f"{method} {status} {milliseconds:.1f}ms identity={who} request_id={request_id}"


_installed: AccessLog | None = None


def install(access_log: AccessLog | None) -> None:
    """Use `access_log` for the access lines (logs.configure_logging), or none."""
    global _installed
    _installed = access_log


def installed() -> AccessLog | None:
    """The installed AccessLog while its handler is still the root logger's only one and
    records are plain LogRecords; else None, and the line goes through `logging` (a
    test's capture, tracing's record factory that adds the span's ids)."""
    access_log = _installed
    if access_log is None or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    handlers = logging.root.handlers
    if len(handlers) != 1 or handlers[0] is not access_log.handler:
        return None
    return access_log
