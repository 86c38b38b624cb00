"""The grpc.aio interceptor: the call policy going out, MasterdataError coming back.

grpc.aio files an interceptor object under the first call shape it implements only,
so there is one small class per shape over a shared mixin. Failures surface where
the caller awaits the call or iterates it.

A unary reply's failure is raised by the call the interceptor returns, not by the
interceptor: grpcio before 1.83 re-raises an interceptor's own exception when it
collects the call ("Exception ignored in InterceptedCall.__del__" on stderr, once
per failed call), and the client runs with grpcio 1.64.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Generator, Iterable
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
        return _UnaryUnaryReply(await continuation(details, request))


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
        return _StreamUnaryReply(await continuation(details, request_iterator))


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


class _Reply:
    """A call with a single response: awaiting it raises a failure as MasterdataError;
    the rest is the wrapped call's."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __await__(self) -> Generator[Any, None, Any]:
        try:
            return (yield from self._call.__await__())
        except aio.AioRpcError as error:
            raise from_rpc_error(error) from None

    def cancelled(self) -> bool:
        return bool(self._call.cancelled())

    def done(self) -> bool:
        return bool(self._call.done())

    def time_remaining(self) -> float | None:
        remaining: float | None = self._call.time_remaining()
        return remaining

    def cancel(self) -> bool:
        return bool(self._call.cancel())

    def add_done_callback(self, callback: Any) -> None:
        self._call.add_done_callback(callback)

    async def initial_metadata(self) -> Any:
        return await self._call.initial_metadata()

    async def trailing_metadata(self) -> Any:
        return await self._call.trailing_metadata()

    async def code(self) -> Any:
        return await self._call.code()

    async def details(self) -> str:
        details: str = await self._call.details()
        return details

    async def wait_for_connection(self) -> None:
        await self._call.wait_for_connection()


class _UnaryUnaryReply(_Reply, aio.UnaryUnaryCall[Any, Any]):
    pass


class _StreamUnaryReply(_Reply, aio.StreamUnaryCall[Any, Any]):
    async def write(self, request: Any) -> None:
        await self._call.write(request)

    async def done_writing(self) -> None:
        await self._call.done_writing()


async def _translated(call: AsyncIterable[Any]) -> AsyncIterator[Any]:
    """The responses of a stream, its failure raised as MasterdataError."""
    try:
        async for response in call:
            yield response
    except aio.AioRpcError as error:
        raise from_rpc_error(error) from None
