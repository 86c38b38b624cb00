"""Server interceptors: the caller context and the error boundary of every RPC."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from grpc import aio

from masterdata.server.api.errors import internal_status, to_status
from masterdata.server.db.errors import translate
from masterdata.server.domain.errors import MasterdataError
from masterdata.server.resources.caller import Caller, set_current_caller

log = logging.getLogger("masterdata.rpc")


class ErrorBoundaryInterceptor(aio.ServerInterceptor):
    """Sets the caller for the call and maps every exception to a status.

    Servicers therefore contain no try/except: a MasterdataError becomes its
    canonical code with google.rpc details, a driver error is translated, and
    anything else is INTERNAL with a correlation id (logged with its traceback).
    """

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or not handler_call_details.method.startswith("/masterdata."):
            return handler
        method = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _enter(context: aio.ServicerContext) -> Caller:
    call_id = uuid.uuid4().hex[:16]
    remaining = context.time_remaining()
    deadline = None if remaining is None else time.monotonic() + remaining
    caller = Caller(call_id=call_id, deadline=deadline)
    set_current_caller(caller)
    return caller


async def _fail(
    error: BaseException, context: aio.ServicerContext, caller: Caller, method: str
) -> None:
    domain = error if isinstance(error, MasterdataError) else translate(error)
    if domain is not None:
        status = to_status(domain)
    else:
        log.error("unexpected error in %s (call %s)", method, caller.call_id, exc_info=error)
        status = internal_status(caller.call_id)
    await context.abort(status.code, status.details, status.trailing_metadata)


def _wrap_unary(
    behaviour: Callable[..., Awaitable[Any]], method: str
) -> Callable[..., Awaitable[Any]]:
    async def unary(request: Any, context: aio.ServicerContext) -> Any:
        caller = _enter(context)
        try:
            return await behaviour(request, context)
        except aio.AbortError:
            raise
        except Exception as error:  # the boundary: nothing escapes unmapped
            await _fail(error, context, caller, method)

    return unary


def _wrap_stream(
    behaviour: Callable[..., AsyncIterator[Any]], method: str
) -> Callable[..., AsyncIterator[Any]]:
    async def stream(request: Any, context: aio.ServicerContext) -> AsyncIterator[Any]:
        caller = _enter(context)
        try:
            async for response in behaviour(request, context):
                yield response
        except aio.AbortError:
            raise
        except Exception as error:
            await _fail(error, context, caller, method)

    return stream
