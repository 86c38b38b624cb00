"""Leader or standby: one relay publishes at a time, the others wait to take over.

The claim is the backend's lease (PostgreSQL: a session advisory lock, released
when its holder's connection ends, so a killed leader's lease is free at once).
The leader checks it every `interval_s`; a standby tries to take it as often.
Losing it without noticing is harmless to the stream (publishes are fenced,
publisher.py), it only costs refused publishes until the check notices.
On SQLite there is no lease: one relay per database, which docs/relay.md says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from masterdata.server.storage.backend import Lease

log = logging.getLogger("masterdata.relay")


class Leadership:
    """Waits to lead, then watches the lease; `on_change(leading)` reports each turn."""

    def __init__(
        self, lease: Lease | None, interval_s: float, on_change: Callable[[bool], None]
    ) -> None:
        self._lease = lease
        self._interval_s = interval_s
        self._on_change = on_change
        self.leading = False

    async def try_lead(self) -> bool:
        """Take the lease if it is free; whether this relay leads now."""
        if self._lease is None or await self._lease.acquire():
            self._set(True)
        return self.leading

    async def lead(self) -> None:
        """Return once this relay leads (a standby until then)."""
        # Polled: the lease lives in the database, which has nothing to wait on.
        while True:
            if await self.try_lead():
                return
            await asyncio.sleep(self._interval_s)

    async def lost(self) -> None:
        """Return when the lease is lost (never without a lease)."""
        while True:
            await asyncio.sleep(self._interval_s)
            if self._lease is not None and not await self._lease.held():
                log.warning("relay lost its lease; standing by")
                self._set(False)
                return

    async def step_down(self) -> None:
        if self._lease is not None:
            await self._lease.release()
        self._set(False)

    def _set(self, leading: bool) -> None:
        if leading != self.leading:
            self.leading = leading
            log.info("relay %s", "leads" if leading else "does not lead")
            self._on_change(leading)
