"""What the process is serving right now, for work that should give way to it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class UnaryCalls:
    """Unary calls of this process, counted by the call boundary.

    `started` moves on every call, so background work can tell that calls arrived
    even when each was over before it looked: a call waiting in grpc for the loop
    is not in flight yet, but the ones before it were.
    """

    in_flight: int = 0
    started: int = 0
