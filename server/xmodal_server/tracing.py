"""Optional OpenTelemetry tracing: one server span per RPC, exported over OTLP/gRPC.

OpenTelemetry is an optional extra (``pip install 'xmodal-server[otel]'``), imported only when tracing is
asked for. The App owns its own ``TracerProvider`` instead of the process-wide one, so that several
servers in one process (tests) keep their spans apart and stopping one flushes only its spans.
"""
from __future__ import annotations

import threading
from typing import Any

import xmodal_server

from .errors import InvalidInput


class Tracing:
    def __init__(self, provider: Any):
        self.provider = provider
        self.tracer = provider.get_tracer("xmodal_server", xmodal_server.__version__)

    def shutdown(self, timeout: float = 5.0) -> None:
        """Export what is still buffered, then stop; give up after ``timeout`` seconds so that a collector
        that is down cannot hold up the end of a graceful shutdown (the exporter's retries would)."""
        worker = threading.Thread(target=self.provider.shutdown, name="otel-shutdown", daemon=True)
        worker.start()
        worker.join(timeout)


def start_tracing(endpoint: str, exporter: Any = None) -> Tracing:
    """Spans go to the OTLP/gRPC ``endpoint``, or to ``exporter`` when one is given (tests pass the
    SDK's in-memory exporter; it is exported synchronously so a test sees a span once its RPC ends)."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        if exporter is None:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    except ImportError as e:
        raise InvalidInput(
            f"config otel_endpoint={endpoint!r}: tracing needs the 'otel' extra "
            f"(pip install 'xmodal-server[otel]'); missing module {e.name!r}"
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": "xmodal",
                                                        "service.version": xmodal_server.__version__}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        # Batched, off the request path; a collector that is down costs dropped spans, not latency.
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return Tracing(provider)
