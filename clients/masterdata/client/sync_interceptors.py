"""The blocking twin of `interceptors`: same policy, same MasterdataError."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import grpc

from masterdata.client.errors import from_rpc_error
from masterdata.client.policy import CallPolicy


class _Details(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


class _ClientCallDetails(_Details, grpc.ClientCallDetails):
    """grpc.ClientCallDetails is abstract; grpc reads these attributes."""


class TranslatingStream:
    """A response stream whose failure is raised as MasterdataError; else the call itself."""

    def __init__(self, call: Any) -> None:
        self._call = call

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._call)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    def __getattr__(self, name: str) -> Any:  # cancel(), code(), trailing_metadata(), ...
        return getattr(self._call, name)


class SyncPolicyInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Applies `CallPolicy` to every blocking call and translates its errors."""

    def __init__(self, policy: CallPolicy) -> None:
        self._policy = policy

    def _details(self, details: Any, request: Any = None) -> tuple[_ClientCallDetails, Any]:
        prepared = self._policy.prepare(details.method, details.timeout, details.metadata, request)
        new = _ClientCallDetails(
            details.method,
            prepared.timeout,
            prepared.metadata,
            details.credentials,
            details.wait_for_ready,
            getattr(details, "compression", None),
        )
        return new, prepared.request

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        details, request = self._details(client_call_details, request)
        return _raise_failure(continuation(details, request))

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        details, request = self._details(client_call_details, request)
        return TranslatingStream(continuation(details, request))

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        details, _ = self._details(client_call_details)
        return _raise_failure(continuation(details, request_iterator))

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], client_call_details: Any, request_iterator: Any
    ) -> Any:
        details, _ = self._details(client_call_details)
        return TranslatingStream(continuation(details, request_iterator))


def _raise_failure(outcome: Any) -> Any:
    """A unary outcome, or its failure as MasterdataError (grpc returns errors as values)."""
    if isinstance(outcome, grpc.RpcError):
        raise from_rpc_error(outcome) from None
    return outcome
