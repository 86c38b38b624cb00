"""A do-nothing OTLP/gRPC trace collector: what tracing costs the server with a real exporter.

    .venv/bin/python bench/otlp_sink.py [--port 4317]
    .venv/bin/python bench/cpu_per_call.py --server-env OTEL_TRACES_EXPORTER=otlp \\
        --server-env OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317

The server serializes and sends its spans as it would to a collector (the batch span
processor's thread, in the server process, so in its CPU); this process only counts
them, and prints the count when it is stopped (SIGINT or SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from grpc import aio
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self.spans = 0

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: Any
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.spans += sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)
        return trace_service_pb2.ExportTraceServiceResponse()


async def main(port: int) -> None:
    sink = Sink()
    server = aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)  # type: ignore[no-untyped-call]
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(f"OTLP sink on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    await server.stop(1)
    print(f"spans received: {sink.spans}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=4317)
    asyncio.run(main(parser.parse_args().port))
