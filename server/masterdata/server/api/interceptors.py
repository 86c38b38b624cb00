"""The server interceptor every masterdata RPC passes through.

It establishes who is calling (authentication), whether they may (scope table,
rate limit, stream cap), records metrics and one access-log line, and is the error
boundary: servicers contain no try/except — a MasterdataError becomes its
canonical code with google.rpc details, a driver error is translated, and anything
else is INTERNAL with the call's request id (logged with its traceback). A request
that does not parse (corrupt wire format, invalid UTF-8 in a string field) is
INVALID_ARGUMENT rather than grpc's UNKNOWN with the parser's message.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from masterdata.server.api.errors import internal_status, to_status
from masterdata.server.db.errors import translate
from masterdata.server.domain.errors import InvalidArgument, MasterdataError
from masterdata.server.observability.metrics import Metrics
from masterdata.server.resources.caller import Caller, set_current_caller
from masterdata.server.security.gatekeeper import Gatekeeper
from masterdata.server.security.identity import Principal

log = logging.getLogger("masterdata.rpc")
REQUEST_ID_HEADER = "x-request-id"


class _Undecodable:
    """Stands in for a request message that failed to parse, so the call can refuse it."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def refuse(self) -> InvalidArgument:
        return InvalidArgument(
            "the request is not a valid protobuf message of the method's type",
            reason="MALFORMED_REQUEST",
        )


def _tolerant(deserialize: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserialize is None:
        return None

    def parse(data: bytes) -> Any:
        try:
            return deserialize(data)
        except Exception as error:  # whatever the parser says: the caller sent garbage
            return _Undecodable(error)

    return parse


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A client stream that raises INVALID_ARGUMENT at its first unparsable message."""
    async for request in requests:
        if isinstance(request, _Undecodable):
            raise request.refuse()
        yield request


class ErrorBoundaryInterceptor(aio.ServerInterceptor):
    """Wraps every `/masterdata.*` handler; health and reflection pass untouched."""

    def __init__(self, gate: Gatekeeper | None = None, metrics: Metrics | None = None) -> None:
        self.gate = gate or Gatekeeper(scopes={})
        self.metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith("/masterdata."):
            return handler
        kinds = (
            (handler.unary_unary, grpc.unary_unary_rpc_method_handler, self._unary),
            (handler.unary_stream, grpc.unary_stream_rpc_method_handler, self._stream),
            (handler.stream_stream, grpc.stream_stream_rpc_method_handler, self._stream),
        )
        for behaviour, make, wrap in kinds:
            if behaviour:
                return make(
                    wrap(behaviour, method),
                    request_deserializer=_tolerant(handler.request_deserializer),
                    response_serializer=handler.response_serializer,
                )
        return handler

    def _unary(self, behaviour: Callable[..., Awaitable[Any]], method: str) -> Any:
        async def unary(request: Any, context: aio.ServicerContext) -> Any:
            call = _Call(self, method, context)
            try:
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
                call.finish()

        return unary

    def _stream(self, behaviour: Callable[..., AsyncIterator[Any]], method: str) -> Any:
        async def stream(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
            call = _Call(self, method, context)
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
                await call.fail(error)
            finally:
                call.finish()

        return stream


class _Call:
    """The bookkeeping of one RPC: caller, timing, status, stream slot."""

    def __init__(
        self, interceptor: ErrorBoundaryInterceptor, method: str, context: aio.ServicerContext
    ) -> None:
        self.interceptor, self.method, self.context = interceptor, method, context
        self.started = time.perf_counter()
        self.code = grpc.StatusCode.UNKNOWN
        self.principal: Principal | None = None
        self.stream_slot = False
        metadata = tuple(context.invocation_metadata() or ())
        self.metadata = metadata
        given = next((v for k, v in metadata if k == REQUEST_ID_HEADER), "")
        self.request_id = str(given)[:64] or uuid.uuid4().hex
        context.set_trailing_metadata(((REQUEST_ID_HEADER, self.request_id),))
        if interceptor.metrics:
            interceptor.metrics.in_flight.labels(method).inc()

    def enter(self, request: Any | None, *, stream: bool = False) -> None:
        gate = self.interceptor.gate
        self.principal = gate.authenticate(self.metadata)
        remaining = self.context.time_remaining()
        set_current_caller(
            Caller(
                identity=self.principal.name,
                scopes=self.principal.scopes,
                call_id=self.request_id,
                deadline=None if remaining is None else time.monotonic() + remaining,
            )
        )
        gate.authorize(self.principal, self.method, request)
        gate.admit(self.principal)
        if isinstance(request, _Undecodable):
            raise request.refuse()
        if stream:
            gate.open_stream(self.principal)
            self.stream_slot = True

    async def fail(self, error: BaseException) -> None:
        domain = error if isinstance(error, MasterdataError) else translate(error)
        if domain is not None:
            status = to_status(domain)
        else:
            log.error(
                "unexpected error in %s (request %s)", self.method, self.request_id, exc_info=error
            )
            status = internal_status(self.request_id)
        self.code = status.code
        trailing = (*status.trailing_metadata, (REQUEST_ID_HEADER, self.request_id))
        await self.context.abort(status.code, status.details, trailing)

    def finish(self) -> None:
        seconds = time.perf_counter() - self.started
        if self.stream_slot and self.principal is not None:
            self.interceptor.gate.close_stream(self.principal)
        code = self.code.name
        metrics = self.interceptor.metrics
        if metrics:
            metrics.in_flight.labels(self.method).dec()
            metrics.observe(self.method, code, seconds)
        identity = self.principal.name if self.principal else ""
        log.info(
            "%s %s %.1fms identity=%s request_id=%s",
            self.method,
            code,
            seconds * 1000,
            identity or "-",
            self.request_id,
            extra={
                "method": self.method,
                "status": code,
                "duration_ms": round(seconds * 1000, 2),
                "identity": identity,
                "request_id": self.request_id,
            },
        )
