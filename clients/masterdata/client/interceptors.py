"""The grpc.aio interceptor: the call policy going out, MasterdataError coming back.

grpc.aio files an interceptor object under the first call shape it implements only,
so there is one small class per shape over a shared mixin. Failures surface where
the caller awaits the call or iterates it.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from typing import Any

from grpc import aio

from masterdata.client.errors import from_rpc_error
from masterdata.client.policy import CallPolicy

Continuation = Callable[..., Any]


class _PolicyMixin:
    """Applies `CallPolicy` to the call details (and the request, if unary)."""

    def __init__(self, policy: CallPolicy) -> None:
        self._policy = policy

    def _details(self, details: aio.ClientCallDetails, request: Any = None) -> tuple[Any, Any]:
        prepared = self._policy.prepare(details.method, details.timeout, details.metadata, request)
        new = aio.ClientCallDetails(
            method=details.method,
            timeout=prepared.timeout,
            metadata=aio.Metadata(*prepared.metadata),
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
        )
        return new, prepared.request


class _UnaryUnary(_PolicyMixin, aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Continuation, client_call_details: aio.ClientCallDetails, request: Any
    ) -> Any:
        details, request = self._details(client_call_details, request)
        return await _reply(await continuation(details, request))


class _UnaryStream(_PolicyMixin, aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Continuation, client_call_details: aio.ClientCallDetails, request: Any
    ) -> Any:
        details, request = self._details(client_call_details, request)
        return _translated(await continuation(details, request))


class _StreamUnary(_PolicyMixin, aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Continuation,
        client_call_details: aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any] | Iterable[Any],
    ) -> Any:
        details, _ = self._details(client_call_details)
        return await _reply(await continuation(details, request_iterator))


class _StreamStream(_PolicyMixin, aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Continuation,
        client_call_details: aio.ClientCallDetails,
        request_iterator: AsyncIterable[Any] | Iterable[Any],
    ) -> Any:
        details, _ = self._details(client_call_details)
        return _translated(await continuation(details, request_iterator))


def policy_interceptors(policy: CallPolicy) -> list[aio.ClientInterceptor]:
    """One interceptor per call shape (grpc.aio files each object under one shape only)."""
    return [_UnaryUnary(policy), _UnaryStream(policy), _StreamUnary(policy), _StreamStream(policy)]


async def _reply(call: Any) -> Any:
    """The single response of a call, its failure raised as MasterdataError."""
    try:
        return await call
    except aio.AioRpcError as error:
        raise from_rpc_error(error) from None


async def _translated(call: AsyncIterable[Any]) -> AsyncIterator[Any]:
    """The responses of a stream, its failure raised as MasterdataError."""
    try:
        async for response in call:
            yield response
    except aio.AioRpcError as error:
        raise from_rpc_error(error) from None
