"""W3C trace context on outgoing calls, when OpenTelemetry is importable.

A service that traces its requests (OpenTelemetry, `traceparent`) and calls
masterdata through this SDK should see masterdata's spans inside its own trace. The
SDK needs no tracing of its own for that: it copies the caller's current context
into the call's metadata with the globally configured propagator (W3C trace context
and baggage by default). Without opentelemetry-api installed, or outside any span,
nothing is added.
"""

from __future__ import annotations

from collections.abc import Callable, MutableSequence

Metadata = MutableSequence[tuple[str, str | bytes]]


def _no_context(metadata: Metadata) -> None:
    """opentelemetry-api is not installed: there is no context to pass on."""


def _propagator() -> Callable[[Metadata], None]:
    try:
        from opentelemetry import propagate
    except ImportError:
        return _no_context

    def add_context(metadata: Metadata) -> None:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        metadata.extend(carrier.items())

    return add_context


#: Adds the current trace context (`traceparent`, `tracestate`, `baggage`) to metadata.
add_trace_context = _propagator()
