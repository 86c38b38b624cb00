"""Two live servers, one per backend, that every fuzzed request is sent to.

For each request the net checks: no INTERNAL or UNKNOWN (with the server's log of
the call in the failure), the same status on SQLite and PostgreSQL, nothing
written by a refused call (events and a per-table fingerprint unchanged), and the
server still SERVING every few calls.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import itertools
import logging
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import text_format
from google.protobuf.message import Message
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import strategies as st
from sqlalchemy import Integer, func, select
from support import make_settings

from fuzz import seed
from fuzz.calls import Outcome, invoke
from fuzz.contract import Rpc, message_class
from fuzz.messages import Context, field_values, messages
from fuzz.references import Pools
from masterdata.server.app import App, build
from masterdata.server.storage import migrate
from masterdata.server.storage.base import Base
from masterdata.server.storage.engine import Database

#: Statuses that mean the server failed, whatever the request.
NEVER = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.UNIMPLEMENTED}
)
HEALTH_EVERY = 25
_SHOWN = 4000
CORE_ERROR = "Internal error from Core"


@functools.cache
def _fingerprint_query() -> Any:
    """One round trip: per table its row count, the sums of its integer columns
    (revision, next_number, sequence, ...) and its latest update_time."""
    parts: list[Any] = []
    for table in Base.metadata.sorted_tables:
        parts.append(select(func.count()).select_from(table).scalar_subquery())
        for column in table.columns:
            if isinstance(column.type, Integer) or column.name == "update_time":
                aggregate = func.max if column.name == "update_time" else func.sum
                parts.append(select(aggregate(column)).scalar_subquery())
    return select(*parts)


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


@dataclass
class Backend:
    """One running server, its channel, and what its placeholders mean."""

    name: str
    app: App
    channel: aio.Channel
    place: seed.Placeholders = field(default_factory=lambda: seed.Placeholders({}, {}))
    #: The fingerprint after the last refused call; None once a call may have written.
    known: tuple[Any, ...] | None = None

    async def fingerprint(self) -> tuple[Any, ...]:
        async with self.app.runtime.db.reader.connect() as conn:
            return tuple((await conn.execute(_fingerprint_query())).one())

    async def before_call(self) -> tuple[Any, ...]:
        """Only this net writes: after a refused call the database is as it was."""
        if self.known is None:
            self.known = await self.fingerprint()
        return self.known

    async def serving(self) -> bool:
        stub = health_pb2_grpc.HealthStub(self.channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
        return reply.status == health_pb2.HealthCheckResponse.SERVING


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
        self._contexts: dict[tuple[str, bool], Context] = {}

    def __repr__(self) -> str:
        return f"Net({', '.join(b.name for b in self.backends)})"

    def requests(self, rpc: Rpc) -> st.SearchStrategy[Any]:
        """Requests of the RPC, hostile or tame (valid-looking values only): one message,
        or a list of them for a client stream."""
        return st.one_of(self._requests(rpc, tame=False), self._requests(rpc, tame=True))

    def _requests(self, rpc: Rpc, *, tame: bool) -> st.SearchStrategy[Any]:
        ctx = self._contexts.setdefault((rpc.path, tame), Context(rpc, self.pools, tame))
        one = messages(rpc.request_type, ctx)
        if not rpc.client_streaming:
            return one
        upload = _options_then_chunks(rpc, ctx)
        return upload if tame else st.one_of(st.lists(one, max_size=4), upload)

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


def _options_then_chunks(rpc: Rpc, ctx: Context) -> st.SearchStrategy[list[Any]]:
    """An upload as a client sends one: the first oneof member (the options), then a
    file split into pieces of the bytes member."""
    oneof = next(iter(rpc.request_type.oneofs), None)
    chunk = oneof and next((f for f in oneof.fields if f.type == f.TYPE_BYTES), None)
    if oneof is None or chunk is None:
        return st.lists(messages(rpc.request_type, ctx), max_size=4)
    head_field = oneof.fields[0]
    request_cls = message_class(rpc.request_type)

    def assemble(head: Any, data: bytes, cuts: list[int]) -> list[Any]:
        first = request_cls()
        getattr(first, head_field.name).CopyFrom(head)
        points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
        pieces = [data[a:b] for a, b in itertools.pairwise(points)]
        return [first] + [request_cls(**{chunk.name: p}) for p in pieces]

    return st.builds(
        assemble,
        field_values(head_field, ctx),
        field_values(chunk, ctx),
        st.lists(st.integers(0, 10**6), max_size=4),
    )


async def _start(url: str) -> App:
    # Heartbeats often, so a read-only feed reaches its few messages quickly.
    settings = make_settings(url, health_interval_s=0.5, heartbeat_interval_s=0.2)
    db = Database.connect(settings)
    await migrate.upgrade(db.writer)
    app = build(settings, db)
    await app.start()
    return app


@contextlib.asynccontextmanager
async def running_net(urls: dict[str, str]) -> AsyncIterator[Net]:
    """Servers on `urls` (name -> database URL), seeded alike; stopped afterwards."""
    log = ServerLog()
    backends: list[Backend] = []
    with log.attached():
        try:
            for name, url in urls.items():
                app = await _start(url)
                channel = aio.insecure_channel(f"127.0.0.1:{app.port}")
                backends.append(Backend(name, app, channel))
            for backend in backends:
                backend.place = await seed.seed(backend.channel)
            shared = set.intersection(*(set(b.place.tokens) for b in backends))
            tokens = tuple(seed.token_placeholder(name) for name in sorted(shared))
            yield Net(backends, log, Pools(seed.kinds(), tokens))
        finally:
            for backend in backends:
                await backend.channel.close()
                await backend.app.stop(0)
