"""The net: every fuzzed request goes to one live server per backend.

For each request it checks: no INTERNAL or UNKNOWN (with the server's log of the
call in the failure), the same status on SQLite and PostgreSQL, nothing written by
a refused call (events and a per-table fingerprint unchanged), and both servers
still SERVING every few calls.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc
from google.protobuf import text_format
from google.protobuf.message import Message
from hypothesis import strategies as st

from fuzz import seed
from fuzz.backends import Backend
from fuzz.calls import Outcome, invoke
from fuzz.contract import Rpc
from fuzz.messages import Context, messages
from fuzz.references import Pools
from fuzz.server_log import ServerLog
from fuzz.uploads import client_streams

#: Statuses that mean the server failed, whatever the request.
NEVER = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNIMPLEMENTED}
)
HEALTH_EVERY = 25
_SHOWN = 4000


class Net:
    """Both backends, the seed pools, and a tally of statuses per RPC.

    Not a dataclass: Hypothesis prints a failing example's arguments field by field.
    """

    def __init__(self, backends: Sequence[Backend], log: ServerLog, pools: Pools) -> None:
        self.backends, self.log, self.pools = backends, log, pools
        self.tally: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self.calls = 0
        self._contexts: dict[tuple[str, bool, bool], Context] = {}

    def __repr__(self) -> str:
        return f"Net({', '.join(b.name for b in self.backends)})"

    def requests(self, rpc: Rpc) -> st.SearchStrategy[Any]:
        """Requests of the RPC — hostile, tame (valid-looking values only), or tame with
        one hostile field — as one message, or a list of them for a client stream."""
        return st.one_of(
            self._requests(rpc, tame=False),
            self._requests(rpc, tame=True),
            self._requests(rpc, tame=True, spiked=True),
        )

    def _requests(self, rpc: Rpc, *, tame: bool, spiked: bool = False) -> st.SearchStrategy[Any]:
        key = (rpc.path, tame, spiked)
        ctx = self._contexts.setdefault(key, Context(rpc, self.pools, tame, spiked))
        if rpc.client_streaming:
            return client_streams(rpc, ctx)
        return messages(rpc.request_type, ctx)

    async def check(self, rpc: Rpc, request: Message | list[Message]) -> None:
        before = await asyncio.gather(*(b.before_call() for b in self.backends))
        for backend in self.backends:
            backend.known = None  # until this call is known to have written nothing
        ids = [uuid.uuid4().hex for _ in self.backends]
        outcomes = await asyncio.gather(
            *(self._invoke(rpc, b, request, i) for b, i in zip(self.backends, ids, strict=True))
        )
        for backend, outcome in zip(self.backends, outcomes, strict=True):
            self.tally[rpc.name][f"{backend.name}:{outcome.verdict}"] += 1
        for backend, outcome, call_id in zip(self.backends, outcomes, ids, strict=True):
            if outcome.code in NEVER:
                self._fail(
                    rpc,
                    request,
                    outcomes,
                    f"{backend.name} answered {outcome.code.name}:\n"
                    f"{self.log.of_call(call_id) or outcome.details}",
                )
        verdicts = {o.verdict for o in outcomes}
        if len(verdicts) > 1:
            self._fail(rpc, request, outcomes, "the backends disagree")
        refused = [(b, old) for b, o, old in zip(self.backends, outcomes, before, strict=True)
                   if o.verdict != "OK"]  # fmt: skip
        afters = await asyncio.gather(*(b.fingerprint() for b, _ in refused))
        for (backend, old), after in zip(refused, afters, strict=True):
            if after != old:
                self._fail(rpc, request, outcomes, f"{backend.name} wrote though it refused")
            backend.known = after
        self.calls += 1
        if self.calls % HEALTH_EVERY == 0:
            await self.assert_serving()

    async def _invoke(self, rpc: Rpc, backend: Backend, request: Any, call_id: str) -> Outcome:
        outcome = await invoke(rpc, backend.channel, _localized(backend, request), call_id)
        return await self.log.server_side(call_id, outcome)

    async def assert_serving(self, within_s: float = 10.0) -> None:
        """SERVING now, or again within `within_s`: the health probe reports NOT_SERVING
        while its `SELECT 1` takes over a second, which a loaded machine can cause; a
        server the fuzzing broke stays down."""
        for backend in self.backends:
            deadline = asyncio.get_running_loop().time() + within_s
            while not await backend.serving():
                assert asyncio.get_running_loop().time() < deadline, f"{backend.name} is down"
                await asyncio.sleep(0.1)

    def _fail(self, rpc: Rpc, request: Any, outcomes: Sequence[Outcome], why: str) -> None:
        shown = "\n".join(
            f"  {b.name}: {o.code.name} {o.details[:300]!r} replies={o.replies}"
            for b, o in zip(self.backends, outcomes, strict=True)
        )
        raise AssertionError(f"{rpc.path}: {why}\n{shown}\nrequest:\n{describe(request)}")


def describe(request: Message | list[Message]) -> str:
    """The request as text, long enough to reproduce, short enough to read."""
    parts = request if isinstance(request, list) else [request]
    text = "\n---\n".join(text_format.MessageToString(p, as_utf8=True) for p in parts)
    return text if len(text) <= _SHOWN else text[:_SHOWN] + f"\n... ({len(text)} characters)"


def _localized(backend: Backend, request: Message | list[Message]) -> Message | list[Message]:
    if isinstance(request, list):
        return [backend.place.localize(r) for r in request]
    return backend.place.localize(request)


@contextlib.asynccontextmanager
async def running_net(urls: dict[str, str]) -> AsyncIterator[Net]:
    """Servers on `urls` (name -> database URL), seeded alike; stopped afterwards."""
    log = ServerLog()
    backends: list[Backend] = []
    with log.attached():
        try:
            for name, url in urls.items():
                backends.append(await Backend.start(name, url))
            shared = set.intersection(*(set(b.place.tokens) for b in backends))
            tokens = tuple(seed.token_placeholder(name) for name in sorted(shared))
            yield Net(backends, log, Pools(seed.kinds(), tokens))
        finally:
            for backend in backends:
                await backend.stop()
