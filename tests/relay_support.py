"""Helpers of the relay tests: a stream of the test's own, relay processes, readers, writers.

NATS comes from MASTERDATA_TEST_NATS_URL (default the machine's 127.0.0.1:4222, with
JetStream on; .ci/run starts one when none listens). Each test relays to a stream
and subjects of its own, deleted afterwards, so tests never see each other's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import tempfile
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js.errors import NotFoundError
from processes import command_env, free_port, masterdata_command
from prometheus_client.parser import text_string_to_metric_families

from masterdata.server.relay.envelope import SEQUENCE
from masterdata.server.resources.caller import Caller
from masterdata.server.resources.runtime import Runtime
from masterdata.server.resources.standard import record_event
from masterdata.v1 import events_pb2, events_pb2_grpc

NATS_URL = os.environ.get("MASTERDATA_TEST_NATS_URL", "nats://127.0.0.1:4222")
_METRICS_LINE = re.compile(r"relay metrics on http://[\d.]+:(\d+)/metrics")


def nats_required() -> bool:
    return os.environ.get("MASTERDATA_REQUIRE_POSTGRES", "") not in ("", "0")


async def connect(url: str = NATS_URL) -> NATS:
    """A NATS connection, or a skip (a failure where CI requires the services)."""
    try:
        return await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    except Exception as error:
        if nats_required():
            pytest.fail(f"NATS is required but unreachable at {url}: {error}")
        pytest.skip(f"NATS unreachable at {url} ({error}); run nats-server -js")


@dataclass(frozen=True)
class Target:
    """Where a test's relays publish: a NATS URL, a stream and a subject prefix of its own."""

    nats_url: str
    stream: str
    prefix: str

    def env(self) -> dict[str, str]:
        return {
            "MASTERDATA_RELAY_NATS_URL": self.nats_url,
            "MASTERDATA_RELAY_STREAM": self.stream,
            "MASTERDATA_RELAY_SUBJECT_PREFIX": self.prefix,
        }


@contextlib.asynccontextmanager
async def own_stream(url: str = NATS_URL) -> AsyncIterator[Target]:
    """A stream name and prefix nobody else uses; the stream is deleted afterwards."""
    nc = await connect(url)
    token = uuid.uuid4().hex[:10]
    target = Target(url, f"RELAYTEST_{token}", f"relaytest{token}")
    try:
        yield target
    finally:
        with contextlib.suppress(Exception):
            if nc.is_closed:
                nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
            await nc.jetstream().delete_stream(target.stream)
        await nc.close()


async def stream_sequences(target: Target, durable: str = "check") -> list[int]:
    """Every event sequence in the stream, in stream order, read by a durable pull consumer."""
    nc = await nats.connect(target.nats_url, connect_timeout=2)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"{target.prefix}.>", durable=durable, stream=target.stream)
        sequences: list[int] = []
        while True:
            try:
                messages = await sub.fetch(1000, timeout=1.0)
            except TimeoutError:
                return sequences
            for message in messages:
                sequences.append(int((message.headers or {})[SEQUENCE]))
                await message.ack()
    finally:
        await nc.close()


async def stream_count(target: Target) -> int:
    """Messages in the stream now (0 before it exists)."""
    nc = await nats.connect(target.nats_url, connect_timeout=2, allow_reconnect=False)
    try:
        return int((await nc.jetstream().stream_info(target.stream)).state.messages)
    except NotFoundError:
        return 0
    finally:
        await nc.close()


@dataclass
class RelayProcess:
    """A `masterdata relay` subprocess and its /metrics."""

    process: asyncio.subprocess.Process
    log_path: Path
    metrics_port: int = 0

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def metrics(self) -> dict[str, float]:
        """The relay's samples by name, from its /metrics endpoint."""
        while not self.metrics_port:
            if match := _METRICS_LINE.search(self.log):
                self.metrics_port = int(match[1])
            else:
                assert self.process.returncode is None, f"relay exited:\n{self.log}"
                await asyncio.sleep(0.05)
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text.decode())
            for sample in family.samples
        }

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM and the exit code (SIGKILL after 15 s)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), 15)
        except TimeoutError:
            self.kill()
            await self.process.wait()
            raise AssertionError(f"relay ignored SIGTERM:\n{self.log}") from None


async def spawn_relay(
    database_url: str, target: Target, *args: str, env: Mapping[str, str] | None = None
) -> RelayProcess:
    """Start `masterdata relay` publishing to `target`, /metrics on a port of its choosing."""
    fd, name = tempfile.mkstemp(prefix="masterdata-relay-", suffix=".log")
    settings = {**target.env(), "MASTERDATA_RELAY_METRICS_PORT": str(free_port()), **(env or {})}
    with os.fdopen(fd, "wb") as log:
        process = await asyncio.create_subprocess_exec(
            *masterdata_command(),
            "relay",
            *args,
            env=command_env(database_url, settings),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    return RelayProcess(process, Path(name))


@contextlib.asynccontextmanager
async def relays() -> AsyncIterator[list[RelayProcess]]:
    """Relay processes a test starts; any still running at the end are killed."""
    started: list[RelayProcess] = []
    try:
        yield started
    finally:
        for relay in started:
            relay.kill()
            await relay.process.wait()
            relay.log_path.unlink(missing_ok=True)


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout_s: float, what: str, poll_s: float = 0.1
) -> float:
    """Seconds until `check()` held; AssertionError naming `what` after `timeout_s`."""
    start = time.monotonic()
    while not await check():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"not within {timeout_s} s: {what}")
        await asyncio.sleep(poll_s)
    return time.monotonic() - start


async def write_locations(runtime: Runtime, count: int, per_commit: int = 20) -> None:
    """`count` location.created events, `per_commit` to a transaction, through the unit of work."""
    from feed_support import location_row

    from masterdata.server.families.locations import LOCATION

    for start in range(0, count, per_commit):
        async with runtime.unit_of_work(Caller(call_id=uuid.uuid4().hex[:16])) as uow:
            rows = [
                location_row(uow, f"relay {i} {uuid.uuid4().hex[:6]}")
                for i in range(start, min(count, start + per_commit))
            ]
            uow.session.add_all(rows)
            await uow.session.flush()
            for row in rows:
                record_event(uow, LOCATION, row, "created")
            await uow.commit()


async def listed_sequences(stub: events_pb2_grpc.EventServiceStub) -> list[int]:
    """Every sequence ListEvents returns, page by page."""
    sequences: list[int] = []
    token = ""
    while True:
        page = await stub.ListEvents(events_pb2.ListEventsRequest(page_size=1000, page_token=token))
        sequences += [event.sequence for event in page.events]
        token = page.next_page_token
        if not token:
            return sequences


@dataclass
class OwnNats:
    """A nats-server -js of the test's own (to stop and restart without touching the shared one)."""

    port: int = field(default_factory=free_port)
    store: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="relay-nats-")))
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    async def start(self) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            pytest.skip("nats-server is not installed")
        self.process = await asyncio.create_subprocess_exec(
            binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip

        async def up() -> bool:
            try:
                nc = await nats.connect(self.url, connect_timeout=1, allow_reconnect=False)
            except Exception:
                return False
            await nc.close()
            return True

        await eventually(up, 10, f"nats-server on port {self.port}")

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            await self.process.wait()

    async def close(self) -> None:
        await self.stop()
        shutil.rmtree(self.store, ignore_errors=True)
