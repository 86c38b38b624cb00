"""What Client and SyncClient share: their arguments, configuration and service stubs."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from grpc_health.v1 import health_pb2_grpc

from masterdata.client.config import DEFAULT_TARGET, ConnectionConfig, RetryPolicy, Timeouts
from masterdata.client.resources import find_resource
from masterdata.v1 import (
    commodity_pb2_grpc,
    events_pb2_grpc,
    location_pb2_grpc,
    organization_pb2_grpc,
    trade_terms_pb2_grpc,
)


class ClientBase:
    """Builds the configuration, opens the channel (`_open`) and attaches the stubs.

    Args:
        target: `host:port` of the server (or any grpc target).
        token: Bearer token (JWT or API key), sent as `authorization: Bearer ...`.
        tls_ca: PEM file of the CA to trust; switches TLS on.
        tls: TLS with the system's trusted roots (implied by `tls_ca`/`tls_cert`).
        tls_cert: PEM client certificate for mTLS (with `tls_key`).
        tls_key: PEM private key of `tls_cert`.
        tls_server_name: Name to verify in the server certificate, if not the target's.
        default_timeouts: Deadlines per call kind when a call passes none.
        retry: grpc retry policy of reads and writes with a request_id.
        options: Extra grpc channel options.
    """

    def __init__(
        self,
        target: str = DEFAULT_TARGET,
        token: str | None = None,
        tls_ca: str | Path | None = None,
        *,
        tls: bool = False,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        tls_server_name: str | None = None,
        default_timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        options: Iterable[tuple[str, Any]] = (),
    ) -> None:
        self.config = ConnectionConfig(
            target, token, tls_ca, tls, tls_cert, tls_key, tls_server_name,
            default_timeouts or Timeouts(), retry or RetryPolicy(), options=tuple(options),
        )  # fmt: skip
        self.channel = self._open(self.config)
        self.locations = location_pb2_grpc.LocationServiceStub(self.channel)
        self.organizations = organization_pb2_grpc.OrganizationServiceStub(self.channel)
        self.commodities = commodity_pb2_grpc.CommodityServiceStub(self.channel)
        self.trade_terms = trade_terms_pb2_grpc.TradeTermsServiceStub(self.channel)
        self.events = events_pb2_grpc.EventServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)

    def _list_call(
        self, resource_name: str, request: Message | None, page_size: int
    ) -> tuple[Any, Any]:
        """The List method of a resource on this channel, and its first page request."""
        info = find_resource(resource_name)
        call = self.channel.unary_unary(
            info.list_path,
            request_serializer=info.list_request.SerializeToString,
            response_deserializer=info.list_response.FromString,
        )
        page: Any = info.list_request()
        if request is not None:
            page.CopyFrom(request)
        page.page_size = page_size
        return call, page

    def _open(self, config: ConnectionConfig) -> Any:
        """The channel every stub calls through (async or blocking)."""
        raise NotImplementedError
