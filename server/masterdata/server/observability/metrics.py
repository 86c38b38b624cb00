"""Prometheus metrics of one server process, in a registry of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from masterdata.server.observability.gc_pauses import GcPauses
from masterdata.server.observability.loop_lag import LoopLag

#: Outcomes of an imported row (the `outcome` label of masterdata_import_rows).
IMPORT_OUTCOMES = ("created", "updated", "skipped", "failed")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class _Sampled(Collector):
    """Gauges read at scrape time (pool use, subscribers), so nothing polls them."""

    def __init__(self, samplers: dict[str, tuple[str, Callable[[], float]]]) -> None:
        self._samplers = samplers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, (documentation, sample) in list(self._samplers.items()):
            try:
                value = float(sample())
            except Exception:  # a broken sampler must not break the whole scrape
                continue
            yield GaugeMetricFamily(name, documentation, value=value)


@dataclass
class Metrics:
    """Per-method call counts, latency and in-flight calls, plus sampled gauges."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    samplers: dict[str, tuple[str, Callable[[], float]]] = field(default_factory=dict)
    _http: WSGIServer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        r = self.registry
        self.calls = Counter(
            "masterdata_rpc_calls",
            "RPCs handled, by method and status code",
            ["method", "code"],
            registry=r,
        )
        self.latency = Histogram(
            "masterdata_rpc_duration_seconds",
            "RPC latency by method",
            ["method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "masterdata_rpc_in_flight", "RPCs being handled, by method", ["method"], registry=r
        )
        self.import_rows = Counter(
            "masterdata_import_rows", "Commodity import rows, by outcome", ["outcome"], registry=r
        )
        for outcome in IMPORT_OUTCOMES:  # exported at 0 before the first import
            self.import_rows.labels(outcome)
        r.register(_Sampled(self.samplers))
        self.gc_pauses = GcPauses(r)
        self.loop_lag = LoopLag(r)

    def sample(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Expose `read()` as gauge `name`, evaluated at every scrape."""
        self.samplers[name] = (documentation, read)

    def of_method(self, method: str) -> MethodMetrics:
        """The children of one method, to be kept by its caller: `labels()` costs
        microseconds on every call otherwise."""
        return MethodMetrics(self, method)

    def serve(self, port: int, address: str = "127.0.0.1") -> int:
        """Start the /metrics HTTP endpoint (a daemon thread); the bound port (`port` 0 picks)."""
        self.close()
        self._http, _thread = start_http_server(port, addr=address, registry=self.registry)
        return int(self._http.server_port)

    def close(self) -> None:
        """Stop the /metrics endpoint, if it runs, and the pause measurement."""
        self.gc_pauses.stop()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


class MethodMetrics:
    """The RPC metrics of one method."""

    __slots__ = ("_by_code", "_metrics", "in_flight", "latency", "method")

    def __init__(self, metrics: Metrics, method: str) -> None:
        self._metrics, self.method = metrics, method
        self.in_flight = metrics.in_flight.labels(method)
        self.latency = metrics.latency.labels(method)
        self._by_code: dict[str, Any] = {}

    def finished(self, code: str, seconds: float) -> None:
        """One call ended with status `code` after `seconds`."""
        self.in_flight.dec()
        self.latency.observe(seconds)
        counter = self._by_code.get(code)
        if counter is None:
            counter = self._by_code[code] = self._metrics.calls.labels(self.method, code)
        counter.inc()
