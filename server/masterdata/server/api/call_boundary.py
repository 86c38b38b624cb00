"""The boundary every masterdata RPC passes through.

It establishes who is calling (authentication), whether they may (scope table,
rate limit, stream cap), records metrics and one access-log line, and is the error
boundary: servicers contain no try/except — a MasterdataError becomes its
canonical code with google.rpc details, a driver error is translated, and anything
else is INTERNAL with the call's request id (logged with its traceback). A request
that does not parse (corrupt wire format, invalid UTF-8 in a string field) is
INVALID_ARGUMENT rather than grpc's UNKNOWN with the parser's message; so is one
with a string no backend may store (domain/text.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import grpc
from grpc import aio

from masterdata.server.api.errors import internal_status, to_status
from masterdata.server.domain.errors import InvalidArgument, MasterdataError, ResourceExhausted
from masterdata.server.domain.text import DESCRIPTION, message_violations
from masterdata.server.observability import access_log
from masterdata.server.observability.metrics import Metrics
from masterdata.server.resources.activity import UnaryCalls
from masterdata.server.resources.caller import Caller, set_current_caller
from masterdata.server.resources.idempotent import key_of
from masterdata.server.security.gatekeeper import Gatekeeper
from masterdata.server.security.identity import Principal
from masterdata.server.storage.errors import translate

log = logging.getLogger("masterdata.rpc")
REQUEST_ID_HEADER = "x-request-id"
#: Retry delay suggested to callers refused because the server is at capacity.
OVERLOAD_RETRY_S = 0.2
#: How long a failing client-streaming call keeps reading what its caller still sends.
DRAIN_S = 2.0


class _Refused:
    """Stands in for a request refused as it was read, so the call can refuse it
    after the caller is known (an unauthenticated caller learns nothing of it)."""

    def __init__(self, error: InvalidArgument) -> None:
        self.error = error

    def refuse(self) -> InvalidArgument:
        return self.error


_MALFORMED = "the request is not a valid protobuf message of the method's type"
#: Import rows are checked one by one by the importer: a bad row is a row error.
_CHECKED_BY_IMPORTER = frozenset({"masterdata.v1.CommodityRows"})


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserialize` that refuses garbage and strings no backend may store (domain/text.py).

    The string walk runs only when the bytes hold a zero byte: a NUL in a string is
    encoded as one, and most requests have none, so the usual cost is one scan.
    """
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            message = deserialize(data)
        except Exception:  # whatever the parser says: the caller sent garbage
            return _Refused(InvalidArgument(_MALFORMED, reason="MALFORMED_REQUEST"))
        if b"\x00" in data:
            bad = message_violations(message, skip=_CHECKED_BY_IMPORTER)
            if bad:
                return _Refused(InvalidArgument(f"strings {DESCRIPTION}", violations=bad))
        return message

    return parse


def _bytes_as_they_are(
    serialize: Callable[[Any], bytes] | None,
) -> Callable[[Any], bytes] | None:
    """`serialize`, except that a handler may hand over a message serialized already.

    Why: the event feed sends the same items to thousands of subscribers; it
    serializes each once (events/stretches.py) instead of once per stream.
    """
    if serialize is None:
        return None

    def serialized(message: Any) -> bytes:
        return message if type(message) is bytes else serialize(message)

    return serialized


async def _drained(requests: AsyncIterator[Any]) -> None:
    """Read and drop what the caller still sends, for up to DRAIN_S.

    Why: a grpc.aio client whose write fails because the server ended the call
    reports INTERNAL ("Internal error from Core") in place of the status the server
    sent (grpc/grpc#36066). Ending a refused upload only once the caller has sent
    everything (or after DRAIN_S) lets it see the refusal and its field violations.
    """
    with contextlib.suppress(Exception, TimeoutError):
        async with asyncio.timeout(DRAIN_S):
            async for _ in requests:
                pass


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A client stream that raises INVALID_ARGUMENT at its first unparsable message."""
    async for request in requests:
        if isinstance(request, _Refused):
            raise request.refuse()
        yield request


class CallBoundary:
    """Wraps the handler of every `/masterdata.*` method once, when it is registered.

    Why not a grpc.aio ServerInterceptor: an interceptor runs for every call and has
    to rebuild the method handler each time; wrapping at registration does the same
    work once (see api/registration.py).
    """

    def __init__(
        self,
        gate: Gatekeeper | None = None,
        metrics: Metrics | None = None,
        *,
        max_unary_in_flight: int = 0,
        calls: UnaryCalls | None = None,
    ) -> None:
        self.gate = gate or Gatekeeper(scopes={})
        self.metrics = metrics
        #: Unary calls started and being handled; past `max_unary_in_flight` in flight,
        #: new ones are refused.
        self.calls = calls or UnaryCalls()
        self.max_unary_in_flight = max_unary_in_flight

    def wrap(
        self, method: str, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any]:
        """`handler` of `method` (`/package.Service/Method`) inside the boundary."""
        kinds = (
            (handler.unary_unary, grpc.unary_unary_rpc_method_handler, self._unary),
            (handler.unary_stream, grpc.unary_stream_rpc_method_handler, self._stream),
            (handler.stream_stream, grpc.stream_stream_rpc_method_handler, self._stream),
        )
        for behaviour, make, wrap in kinds:
            if behaviour:
                # The stubs type behaviours as the sync server's; grpc.aio's are coroutine
                # and async generator functions.
                return make(
                    wrap(cast("Callable[..., Any]", behaviour), method),
                    request_deserializer=_tolerant(handler.request_deserializer),
                    response_serializer=_bytes_as_they_are(handler.response_serializer),
                )
        raise TypeError(f"{method}: client-streaming unary methods are not part of the API")

    def _unary(self, behaviour: Callable[..., Awaitable[Any]], method: str) -> Any:
        site = _Site(self, method)

        async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            call = _Call(site, context)
            self.calls.in_flight += 1
            self.calls.started += 1
            try:
                self._admit()
                call.enter(request)
                response = await behaviour(request, context)
                call.code = grpc.StatusCode.OK
                return response
            except aio.AbortError:
                raise
            except asyncio.CancelledError:
                call.code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:  # the boundary: nothing escapes unmapped
                await call.fail(error)
            finally:
                self.calls.in_flight -= 1
                call.finish()

        return unary

    def _admit(self) -> None:
        """Refuse a unary call at once while too many are being handled.

        Past capacity, queued calls would only wait for a database connection until
        their deadlines pass; a fast RESOURCE_EXHAUSTED with a retry delay lets
        clients back off or go to another replica instead. Streams are not counted:
        subscriptions are long-lived and idle most of the time.
        """
        limit = self.max_unary_in_flight
        if limit and self.calls.in_flight > limit:
            raise ResourceExhausted(
                "the server is at capacity; retry shortly",
                retry_after_s=OVERLOAD_RETRY_S,
                reason="OVERLOADED",
            )

    def _stream(self, behaviour: Callable[..., AsyncIterator[Any]], method: str) -> Any:
        site = _Site(self, method)

        async def stream(
            request: Any, context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            call = _Call(site, context)
            client_streams = hasattr(request, "__aiter__")
            try:
                call.enter(None if client_streams else request, stream=True)
                async for response in behaviour(
                    _checked(request) if client_streams else request, context
                ):
                    yield response
                call.code = grpc.StatusCode.OK
            except aio.AbortError:
                raise
            except (asyncio.CancelledError, GeneratorExit):
                call.code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                if client_streams:
                    await _drained(request)
                await call.fail(error)
            finally:
                call.finish()

        return stream


class _Site:
    """What every call of one method shares: its name, gate and metric children."""

    __slots__ = ("gate", "method", "metrics")

    def __init__(self, boundary: CallBoundary, method: str) -> None:
        self.method = method
        self.gate = boundary.gate
        self.metrics = boundary.metrics.of_method(method) if boundary.metrics else None


class _Call:
    """The bookkeeping of one RPC: caller, timing, status, stream slot."""

    __slots__ = (
        "code",
        "context",
        "metadata",
        "principal",
        "request_id",
        "site",
        "started",
        "stream",
    )

    def __init__(self, site: _Site, context: aio.ServicerContext[Any, Any]) -> None:
        self.site, self.context = site, context
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.UNKNOWN
        self.principal: Principal | None = None
        self.stream = False  # holds a stream slot of the gate
        metadata = context.invocation_metadata() or ()
        self.metadata = metadata
        given = next((v for k, v in metadata if k == REQUEST_ID_HEADER), "")
        self.request_id = str(given)[:64] or os.urandom(16).hex()
        context.set_trailing_metadata(((REQUEST_ID_HEADER, self.request_id),))
        if site.metrics:
            site.metrics.in_flight.inc()

    def enter(self, request: Any | None, *, stream: bool = False) -> None:
        gate, method = self.site.gate, self.site.method
        self.principal = principal = gate.authenticate(self.metadata, self.context.auth_context)
        remaining = self.context.time_remaining()
        caller = Caller(
            identity=principal.name,
            scopes=principal.scopes,
            call_id=self.request_id,
            deadline=None if remaining is None else time.monotonic() + remaining,
        )
        set_current_caller(caller)
        gate.authorize(principal, method, request)
        gate.admit(principal)
        if isinstance(request, _Refused):
            raise request.refuse()
        if request is not None and (key := key_of(method, request)) is not None:
            set_current_caller(dataclasses.replace(caller, idempotency=key))
        if stream:
            gate.open_stream(principal)
            self.stream = True

    async def fail(self, error: BaseException) -> None:
        domain = error if isinstance(error, MasterdataError) else translate(error)
        if domain is not None:
            status = to_status(domain)
        else:
            log.error(
                "unexpected error in %s (request %s)",
                self.site.method,
                self.request_id,
                exc_info=error,
            )
            status = internal_status(self.request_id)
        self.code = status.code
        trailing = (*status.trailing_metadata, (REQUEST_ID_HEADER, self.request_id))
        await self.context.abort(status.code, status.details, trailing)

    def finish(self) -> None:
        seconds = time.perf_counter() - self.started
        site, principal, code = self.site, self.principal, self.code.name
        if self.stream and principal is not None:
            site.gate.close_stream(principal)
        if site.metrics:
            site.metrics.finished(code, seconds)
        if not log.isEnabledFor(logging.INFO):
            return
        identity = principal.name if principal else ""
        if (access := access_log.installed()) is not None:
            access.write(site.method, code, seconds, identity, self.request_id)
            return
        log.info(
            "%s %s %.1fms identity=%s request_id=%s",
            site.method,
            code,
            seconds * 1000,
            identity or "-",
            self.request_id,
            extra={
                "method": site.method,
                "status": code,
                "duration_ms": round(seconds * 1000, 2),
                "identity": identity,
                "request_id": self.request_id,
            },
        )
