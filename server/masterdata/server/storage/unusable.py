"""Set-up mistakes about the database, each said in one line the operator can act on.

A wrong URL, a database that does not exist, a server that does not answer, a SQLite
directory that is not there: the drivers report these as long tracebacks from deep
inside a first query. `Database.open` tries one connection at start-up and turns
them into DatabaseUnusable, which `serve`, `migrate` and `seed` print as one line
and exit 2. Outages later on are not set-up mistakes: storage/errors.py makes them
UNAVAILABLE.
"""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

#: The driver this server runs on, by backend (config.py maps bare schemes to them).
DRIVERS = {"postgresql": "asyncpg", "sqlite": "aiosqlite"}
ACCEPTED_URLS = "postgresql://USER@HOST:PORT/NAME or sqlite:///PATH"


class DatabaseUnusable(RuntimeError):
    """The settings name a database this process cannot use; the message says why."""


def supported_url(database_url: str) -> URL:
    """The parsed URL if this server can run on it, else DatabaseUnusable saying what can."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise DatabaseUnusable(
            f"cannot parse the database URL {database_url!r}; use {ACCEPTED_URLS}"
        ) from None
    if DRIVERS.get(url.get_backend_name()) != url.get_driver_name():
        shown = url.render_as_string(hide_password=True)
        raise DatabaseUnusable(f"unsupported database URL {shown}; use {ACCEPTED_URLS}")
    return url


def sqlite_path_problem(url: URL) -> DatabaseUnusable | None:
    """Why SQLite cannot have its file at the URL's path, or None (also for PostgreSQL).

    Checked before aiosqlite tries: its failed connect leaves a worker thread that may
    report to an event loop already closed, a traceback at exit.
    """
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri"):
        return None  # a file: URI, not a path
    path = Path(url.database)
    if not path.parent.is_dir():
        return DatabaseUnusable(
            f"cannot open SQLite database {path}: directory {path.parent} does not exist"
        )
    if path.is_dir():
        return DatabaseUnusable(f"cannot open SQLite database {path}: it is a directory")
    return None


def first_connection_failed(
    error: BaseException, url: URL, connect_timeout_s: float
) -> DatabaseUnusable | None:
    """The operator's line for a failed first connection, or None if it is not a set-up one."""
    causes = _causes(error)
    if url.get_backend_name() == "sqlite":
        for cause in causes:
            if isinstance(cause, sqlite3.OperationalError):
                return DatabaseUnusable(f"cannot open SQLite database {url.database}: {cause}")
        return None
    for cause in causes:
        if (line := _postgres_line(cause, url, connect_timeout_s)) is not None:
            return DatabaseUnusable(line)
    return None


def _postgres_line(cause: BaseException, url: URL, connect_timeout_s: float) -> str | None:
    port = url.port or 5432
    where = f"{url.host}:{port}" if url.host else f"the default host (port {port})"
    name = url.database or url.username or ""
    if isinstance(cause, asyncpg.InvalidCatalogNameError):
        flags = [*(["-h", url.host] if url.host else []), "-p", str(port)]
        flags += ["-U", url.username] if url.username else []
        return (
            f'PostgreSQL at {where} has no database "{name}"; create it with '
            f"`createdb {' '.join(flags)} {name}`, then run `masterdata migrate`"
        )
    if isinstance(cause, asyncpg.PostgresError):  # a role, a password, too many clients
        as_user = f' as "{url.username}"' if url.username else ""
        return f'PostgreSQL at {where} refused a connection to "{name}"{as_user}: {cause}'
    if isinstance(cause, socket.gaierror):
        return f"cannot reach PostgreSQL at {where}: unknown host ({cause.strerror})"
    if isinstance(cause, TimeoutError):
        return (
            f"cannot reach PostgreSQL at {where}: no answer within {connect_timeout_s:g}s "
            "(MASTERDATA_CONNECT_TIMEOUT_S)"
        )
    if isinstance(cause, OSError):
        return (
            f"cannot reach PostgreSQL at {where} ({cause.strerror or cause}); is it "
            "running, and are the host and port in the database URL right?"
        )
    return None


def _causes(error: BaseException) -> list[BaseException]:
    """`error`, the driver error SQLAlchemy wraps (`orig`) and their causes, in order."""
    found: list[BaseException] = []
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop(0)
        if current is None or any(current is seen for seen in found):
            continue
        found.append(current)
        pending += [getattr(current, "orig", None), current.__cause__, current.__context__]
    return found
