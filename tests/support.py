"""Helpers shared by tests: rich-status decoding, event reads."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc import aio
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from masterdata.server.config import Settings
from masterdata.server.storage.engine import Database
from masterdata.server.storage.models.events import EventRow


def postgres_required() -> bool:
    """Whether a missing PostgreSQL fails the run instead of skipping (CI sets it)."""
    return os.environ.get("MASTERDATA_REQUIRE_POSTGRES", "") not in ("", "0")


def postgres_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as the DSN asyncpg.connect() takes."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Settings for an in-process test server: no environment, an ephemeral port."""
    return Settings.load(environ={}, database_url=database_url, listen="127.0.0.1:0", **overrides)


@dataclass
class RpcFailure:
    """A failed call with its google.rpc details decoded."""

    code: grpc.StatusCode
    message: str
    reason: str
    metadata: dict[str, str]
    violations: dict[str, str]

    @property
    def fields(self) -> set[str]:
        return set(self.violations)


def decode_failure(error: aio.AioRpcError) -> RpcFailure:
    status = status_pb2.Status()
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status.ParseFromString(value)
    reason, metadata, violations = "", {}, {}
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = {v.field: v.description for v in bad.field_violations}
    return RpcFailure(error.code(), error.details() or "", reason, metadata, violations)


async def expect_failure(call: Awaitable[Any], code: grpc.StatusCode) -> RpcFailure:
    """Await a call that must fail with `code`; return its decoded details."""
    try:
        await call
    except aio.AioRpcError as error:
        failure = decode_failure(error)
        assert failure.code == code, f"expected {code}, got {failure.code}: {failure.message}"
        return failure
    raise AssertionError(f"expected {code}, the call succeeded")


async def events(db: Database, **where: Any) -> list[EventRow]:
    stmt = select(EventRow).order_by(EventRow.sequence)
    for name, value in where.items():
        stmt = stmt.where(getattr(EventRow, name) == value)
    async with db.read_session() as session:
        return list((await session.execute(stmt)).scalars())


async def event_count(db: Database) -> int:
    async with db.read_session() as session:
        return int((await session.execute(select(func.count()).select_from(EventRow))).scalar_one())


async def eventually(
    probe: Callable[[], object], within_s: float = 15.0, *, want: object = True, what: str = ""
) -> None:
    """Poll `probe` (plain, or returning an awaitable) until it gives `want` — with the
    default, anything truthy; fail naming `what` and the last value after `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        got = probe()
        if inspect.isawaitable(got):
            got = await got
        if bool(got) if want is True else got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within_s}s: {what or probe}; last {got!r}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def own_database(next_to: str, prefix: str) -> AsyncIterator[str]:
    """A new empty PostgreSQL database beside `next_to`'s (a SQLAlchemy URL); its URL,
    dropped afterwards even if connections are still open."""
    admin = await asyncpg.connect(
        make_url(next_to).set(drivername="postgresql").render_as_string(hide_password=False),
        timeout=5,
    )
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(next_to).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def record_sleeps(monkeypatch: Any, task_name: str, *, keep_zero: bool = True) -> list[float]:
    """The delays the task named `task_name` asks of asyncio.sleep, recorded, not slept.

    Tasks of other tests that share the session's loop (its server) sleep as usual.
    """
    asked: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        task = asyncio.current_task()
        if task is None or task.get_name() != task_name:
            await real_sleep(delay)
            return
        if delay or keep_zero:
            asked.append(delay)
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    return asked
