"""The access line written without a LogRecord is the line `logging` would write."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from masterdata.server.observability import access_log
from masterdata.server.observability.access_log import ACCESS_LOGGER, AccessLog
from masterdata.server.observability.logs import configure_logging

METHOD = "/masterdata.v1.CommodityService/GetCommodity"
#: Times away from a millisecond's edge, where float rounding could differ.
TIMES = (1_764_875_704.1234, 1_764_875_705.9876, 1_700_000_000.0004)


@pytest.fixture
def logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    access_log.install(None)


def logged_line(handler: logging.Handler, created: float, identity: str) -> str:
    """What `logging` writes for call_boundary's access record made at `created`."""
    record = logging.getLogger(ACCESS_LOGGER).makeRecord(
        ACCESS_LOGGER,
        logging.INFO,
        __file__,
        1,
        "%s %s %.1fms identity=%s request_id=%s",
        (METHOD, "NOT_FOUND", 12.3456, identity or "-", "req-1"),
        None,
        extra={
            "method": METHOD,
            "status": "NOT_FOUND",
            "duration_ms": round(12.3456, 2),
            "identity": identity,
            "request_id": "req-1",
        },
    )
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    return handler.format(record) + "\n"


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("identity", ["erp", ""])
def test_the_line_is_the_formatters(logging_restored: None, log_format: str, identity: str) -> None:
    configure_logging("INFO", log_format)
    handler = logging.getLogger().handlers[0]
    writer = access_log.installed()
    assert writer is not None
    for created in TIMES:
        line = writer.line(created, METHOD, "NOT_FOUND", 0.0123456, identity, "req-1")
        assert line == logged_line(handler, created, identity)
    if log_format == "json":
        assert json.loads(line)["request_id"] == "req-1"


def test_writes_to_the_handlers_stream(logging_restored: None) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logging.getLogger().handlers[:] = [handler]
    access_log.install(AccessLog(handler, json_lines=False))
    writer = access_log.installed()
    assert writer is not None
    writer.write(METHOD, "OK", 0.002, "erp", "req-2")
    assert stream.getvalue().endswith(f"{METHOD} OK 2.0ms identity=erp request_id=req-2\n")


def test_not_used_where_logging_is_configured_otherwise(logging_restored: None) -> None:
    configure_logging("INFO", "text")
    assert access_log.installed() is not None
    logging.getLogger().addHandler(logging.NullHandler())  # a test's capture, say
    assert access_log.installed() is None
    configure_logging("INFO", "text")
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(lambda *a, **k: factory(*a, **k))  # tracing's ids
    try:
        assert access_log.installed() is None
    finally:
        logging.setLogRecordFactory(factory)
