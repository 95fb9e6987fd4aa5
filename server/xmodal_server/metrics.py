"""Prometheus metrics: per-RPC counts (by method and status code) and latency, and per batcher (text,
image, speech encoders and search) the queue depth, batch sizes and model/index time.

Each App owns its registry: tests run several servers in one process, and the process-wide default
registry would refuse the second set of metrics. The index reports what it found about its own data
(snapshots loaded or rejected, torn logs, rebuilds) as ``xmodal_index_events_total``. ``serve`` exposes it at ``http://HOST:PORT/metrics``.
"""
from __future__ import annotations

import logging
import threading

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._rpcs = Counter("xmodal_rpc_requests", "Finished RPCs by method and gRPC status code.",
                             ["method", "code"], registry=r)
        self._rpc_seconds = Histogram("xmodal_rpc_duration_seconds", "Server-side RPC latency by method.",
                                      ["method"], buckets=_SECONDS, registry=r)
        self._batch_size = Histogram("xmodal_batch_size", "Items per model (or index) call, per batcher.",
                                     ["batcher"], buckets=_SIZES, registry=r)
        self._queue_depth = Gauge("xmodal_queue_depth", "Items waiting for a batch, per batcher.", ["batcher"], registry=r)
        self._model_seconds = Histogram("xmodal_model_duration_seconds", "Time of one model (or index) call, per batcher.",
                                        ["batcher"], buckets=_SECONDS, registry=r)
        self._index_events = Counter("xmodal_index_events", "Index recovery and maintenance events by collection "
                                     "(snapshot_loaded, snapshot_invalid, unclean_shutdown, wal_torn_tail, "
                                     "rebuilt_from_log, index_rebuilt, maintenance_failed, ...).",
                                     ["collection", "event"], registry=r)
        self._http = None

    def rpc(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        self._rpcs.labels(method, code.name).inc()
        self._rpc_seconds.labels(method).observe(seconds)

    def index_event(self, collection: str, event: str, detail: str = "") -> None:
        """An ``index.backend.EventSink``: the detail goes to the log (the store logs it), not to a label."""
        self._index_events.labels(collection, event).inc()

    def batch_observer(self, batcher: str) -> "_BatchObserver":
        return _BatchObserver(self._queue_depth.labels(batcher), self._batch_size.labels(batcher),
                              self._model_seconds.labels(batcher))

    def serve(self, host: str, port: int) -> int:
        """Start the HTTP endpoint (a daemon thread); returns the bound port. Call ``close`` to stop it."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = (server, thread)
        bound = server.server_port
        log.info("Prometheus metrics at http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._http is not None:
            server, thread = self._http
            self._http = None
            # shutdown() blocks until serve_forever returns; do it off the caller's thread.
            threading.Thread(target=lambda: (server.shutdown(), server.server_close()), daemon=True).start()


class _BatchObserver:
    """A batcher's view of the metrics (``batching.BatchObserver``), label children bound once."""

    def __init__(self, depth, size, seconds):
        self._depth, self._size, self._seconds = depth, size, seconds

    def queued(self, depth: int) -> None:
        self._depth.set(depth)

    def batch(self, size: int, seconds: float) -> None:
        self._size.observe(size)
        self._seconds.observe(seconds)
