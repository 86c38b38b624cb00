"""The relay's Prometheus metrics, in a registry of its own, served on /metrics."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class RelayMetrics:
    """Published events, lag in events and seconds, leader or standby, NATS reachable."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.published = Counter(
            "masterdata_relay_published", "Events stored in the stream by this relay", registry=r
        )
        self.duplicates = Counter(
            "masterdata_relay_duplicates",
            "Publishes JetStream already had (dropped by Nats-Msg-Id)",
            registry=r,
        )
        self.lag_events = Gauge(
            "masterdata_relay_lag_events",
            "Committed events not yet in the stream (as the leader last measured)",
            registry=r,
        )
        self.lag_seconds = Gauge(
            "masterdata_relay_lag_seconds",
            "Age of the oldest committed event not yet in the stream",
            registry=r,
        )
        self.stream_sequence = Gauge(
            "masterdata_relay_last_event_sequence",
            "Event sequence of the last message the stream confirmed",
            registry=r,
        )
        self.leader = Gauge(
            "masterdata_relay_leader", "1 if this relay leads, 0 standby", registry=r
        )
        self.nats_connected = Gauge(
            "masterdata_relay_nats_connected", "1 while this relay is connected to NATS", registry=r
        )
        self._http: WSGIServer | None = None

    def serve(self, port: int, address: str) -> int:
        """Start /metrics (a daemon thread); the bound port (0 picks one)."""
        self._http, _thread = start_http_server(port, addr=address, registry=self.registry)
        return int(self._http.server_port)

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
