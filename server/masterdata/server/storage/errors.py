"""Driver errors translated into the domain error tree (`raise ... from e`)."""

from __future__ import annotations

import re
from types import TracebackType
from typing import Literal

import asyncpg
from sqlalchemy import exc as sa_exc

from masterdata.server.domain.errors import (
    Aborted,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    MasterdataError,
    Unavailable,
)

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?:index '(?P<index>[^']+)'|(?P<cols>.+))")

# The one SQLSTATE table of the server (PostgreSQL; SQLAlchemy-wrapped and raw
# asyncpg errors alike). Passing states are UNAVAILABLE: class 08 (connection
# exception), 57P (shutdowns) and 53300 (too_many_connections: no free slot under
# max_connections or a role's or database's limit).
_PG_UNAVAILABLE_CLASSES = ("08", "57P")
_PG_TOO_MANY_CONNECTIONS = "53300"
#: serialization_failure and deadlock_detected: the caller may retry.
_PG_RETRY_STATES = {"40001", "40P01"}
#: statement_timeout (query_canceled) and lock_timeout (lock_not_available).
_PG_TIMEOUT_STATES = {"57014", "55P03"}


def _unavailable_state(state: str) -> bool:
    return state.startswith(_PG_UNAVAILABLE_CLASSES) or state == _PG_TOO_MANY_CONNECTIONS


class UniqueViolation(AlreadyExists):
    """A unique index rejected a write; `constraint` names it when the driver tells."""

    def __init__(self, message: str, *, constraint: str, columns: list[str]) -> None:
        super().__init__(message, reason="DUPLICATE", metadata={"constraint": constraint})
        self.constraint = constraint
        self.columns = columns


def pool_timeout() -> Unavailable:
    return Unavailable("no database connection is free; retry later", reason="POOL_TIMEOUT")


def _sqlstate(error: BaseException) -> str:
    orig = getattr(error, "orig", None)
    for candidate in (error, orig, getattr(orig, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if state:
            return str(state)
    return ""


def _unique_violation(error: sa_exc.IntegrityError) -> UniqueViolation | None:
    cause = getattr(error.orig, "__cause__", None)
    constraint = getattr(cause, "constraint_name", None)
    if constraint:
        return UniqueViolation("already exists", constraint=constraint, columns=[])
    match = _SQLITE_UNIQUE.search(str(error.orig))
    if match is None:
        return None
    if match["index"]:
        return UniqueViolation("already exists", constraint=match["index"], columns=[])
    columns = [c.strip().split(".")[-1] for c in match["cols"].split(",")]
    return UniqueViolation("already exists", constraint="", columns=columns)


def translate(error: BaseException) -> MasterdataError | None:
    """The domain error for a driver error, or None when it is a bug of ours."""
    if isinstance(error, asyncpg.UniqueViolationError):  # asyncpg used directly
        return UniqueViolation("already exists", constraint=error.constraint_name or "", columns=[])
    if isinstance(error, asyncpg.ForeignKeyViolationError):
        return FailedPrecondition("a referenced resource does not exist", reason="REFERENCE")
    if isinstance(error, sa_exc.IntegrityError):
        unique = _unique_violation(error)
        if unique is not None:
            return unique
        if "foreign key" in str(error.orig).lower() or _sqlstate(error) == "23503":
            return FailedPrecondition("a referenced resource does not exist", reason="REFERENCE")
        return None
    state = _sqlstate(error)
    if state in _PG_TIMEOUT_STATES:
        return DeadlineExceeded("the deadline passed before the database finished")
    if state in _PG_RETRY_STATES:
        return Aborted("the transaction conflicted with another; retry", reason="CONFLICT")
    if isinstance(error, sa_exc.TimeoutError):
        return pool_timeout()
    if isinstance(error, sa_exc.DBAPIError) and (
        error.connection_invalidated
        or isinstance(error, sa_exc.InterfaceError)
        or "database is locked" in str(error.orig)
    ):
        return Unavailable("the database is unavailable; retry later")
    if _unavailable_state(state) or isinstance(error, (ConnectionError, OSError)):
        return Unavailable("the database is unavailable; retry later")
    return None


_DRIVER_ERRORS = (sa_exc.SQLAlchemyError, asyncpg.PostgresError, OSError)


class translate_errors:  # lower case: used as `async with translate_errors():`
    """Re-raise driver errors as domain errors; anything unknown passes through.

    A class rather than an @asynccontextmanager: it wraps every database call, and a
    generator-based context manager costs several microseconds each time.
    """

    __slots__ = ()

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        error: BaseException | None,
        _tb: TracebackType | None,
    ) -> Literal[False]:  # never swallows: an error is re-raised, translated or as it is
        if error is None or not isinstance(error, _DRIVER_ERRORS):
            return False
        domain = translate(error)
        if domain is None:
            return False
        raise domain from error
