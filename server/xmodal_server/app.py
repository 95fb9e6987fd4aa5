"""Lifecycle: bind and serve health at once, load and warm the models, open the store, build the demo,
flip health to SERVING; on SIGTERM/SIGINT go NOT_SERVING, drain, close the store.

TLS credentials, the token table and the tracer are set up in ``App.start()`` before anything is bound, so
a wrong file or a missing optional package stops the start with an error naming the setting.

``App.start()`` returns as soon as the port is bound (so ``port=0`` tests learn the port early and
probes get an answer while models load); ``App.ready`` completes when every service can answer.
Prometheus metrics are served from the start too (``metrics_port``).

The CUDA path: models are built on the resolved device and run under autocast to ``cuda_dtype``
(the encoders stay dtype-agnostic), and collections mirror their vectors on the GPU for search.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from contextlib import nullcontext
from typing import Any, Callable, ContextManager

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import tls
from .api.auth import AuthInterceptor, load_tokens
from .api.interceptors import ObservedServer
from .api.servicers import add_all
from .config import Config
from .index import exact
from .metrics import Metrics
from .service import Service
from .tracing import Tracing, start_tracing

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def index_backend_name(device: str = "cpu", dtype: str = "fp32") -> str:
    import faiss

    # Only the exact path depends on the device; Store.describe_backend adds the per-collection index kinds.
    return f"faiss {faiss.__version__} (exact search {exact.describe(device, dtype)})"


def model_context(device: str, dtype: str) -> Callable[[], ContextManager]:
    """What every model call runs inside: autocast to ``dtype`` on CUDA (fp32: nothing), nothing on CPU.

    The hook for mixed precision lives here, not in the encoders: each encoder already returns float32
    features (``.float()``), so running its forward under autocast is all the CUDA path needs."""
    if not device.startswith("cuda") or dtype == "fp32":
        return nullcontext
    import torch

    return lambda: torch.autocast("cuda", dtype=exact.torch_dtype(dtype))


def build_service(config: Config, device: str, metrics: Metrics | None = None) -> Service:
    """Blocking: load encoders and heads, warm them, open the store. Runs off the event loop."""
    import torch

    from .embedder import Embedder
    from .encoders.heads import default_checkpoint, load_checkpoint
    from .encoders.registry import PROFILES, EncoderSpec, build
    from .index import open_store

    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    overrides = {"text": config.text_model, "image": config.image_model, "speech": config.speech_model}
    encoders = {}
    for modality, name in PROFILES[config.profile].items():
        t0 = time.perf_counter()
        encoders[modality] = build(EncoderSpec(name=name, source=overrides[modality] or None, device=device,
                                               speech_precision=config.cpu_speech_precision))
        log.info("loaded %s encoder %s in %.1fs", modality, name, time.perf_counter() - t0)
    checkpoint = load_checkpoint(config.checkpoint or default_checkpoint(config.profile))
    embedder = Embedder(config.profile, encoders, checkpoint, cache_dir=config.data_path / "cache")
    t0 = time.perf_counter()
    in_model_dtype = model_context(device, config.cuda_dtype)
    with in_model_dtype():  # warm the kernels requests will use
        embedder.warmup()
    log.info("warmed up in %.1fs; space %s (aligned=%s)", time.perf_counter() - t0, embedder.space_id, checkpoint.aligned)
    store = open_store(config, exact.device_search_factory(device, config.cuda_dtype))
    return Service(config, embedder, store, model_context=in_model_dtype, metrics=metrics)


class App:
    def __init__(self, config: Config, *, span_exporter: Any = None):
        """``span_exporter``: an OpenTelemetry span exporter to use instead of OTLP to ``otel_endpoint``
        (tests pass the SDK's in-memory one); either turns tracing on."""
        self.config = config
        self._span_exporter = span_exporter
        self.tracing: Tracing | None = None
        self.service: Service | None = None
        self.port = 0
        self.started_at = time.perf_counter()
        self.ready: asyncio.Future[None] | None = None
        self._server: grpc.aio.Server | None = None
        self._health = health.aio.HealthServicer()
        self._names: list[str] = []
        self.metrics = Metrics()
        self.metrics_port = 0  # bound port once started; 0 = not served

    async def start(self) -> int:
        cfg = self.config
        # Files named by settings are read, and optional packages imported, before anything is bound:
        # a wrong path is a startup error naming the setting, not a failure at the first call.
        credentials = tls.server_credentials(cfg)
        tokens = load_tokens(cfg.auth_tokens_file) if cfg.auth_tokens_file else None
        if cfg.otel_endpoint or self._span_exporter is not None:
            self.tracing = start_tracing(cfg.otel_endpoint, self._span_exporter)
        # Request ids and spans wrap each handler once, at registration (ObservedServer); the token check is
        # the only interceptor, and its refusals are wrapped the same way, so they get ids and spans too.
        tracer = self.tracing.tracer if self.tracing is not None else None
        mb = cfg.max_message_mb * 2**20
        self._server = grpc.aio.server(
            interceptors=[AuthInterceptor(tokens, self.metrics, tracer)] if tokens is not None else [],
            options=[("grpc.max_receive_message_length", mb), ("grpc.max_send_message_length", mb)],
        )
        observed = ObservedServer(self._server, tracer)
        self.device = resolve_device(self.config.device)
        backend = index_backend_name(self.device, self.config.cuda_dtype)
        self._names = add_all(observed, lambda: self.service, backend, self.device, self.metrics)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, observed)
        reflection.enable_server_reflection(
            [*self._names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self._server,
        )
        await self._set_health(health_pb2.HealthCheckResponse.NOT_SERVING)
        address = f"{cfg.host}:{cfg.port}"
        self.port = (self._server.add_secure_port(address, credentials) if credentials is not None
                     else self._server.add_insecure_port(address))
        if self.port == 0:
            raise OSError(f"cannot bind {self.config.host}:{self.config.port}")
        if self.config.metrics_port >= 0:
            try:
                self.metrics_port = self.metrics.serve(self.config.host, self.config.metrics_port)
            except OSError as e:
                raise OSError(f"cannot serve metrics on {self.config.host}:{self.config.metrics_port}: {e}; "
                              "pick another --metrics-port, 0 for any free port or -1 for none") from e
        await self._server.start()
        auth = "off" if tokens is None else "{read} read and {write} write tokens".format(**tokens.counts())
        log.info("listening on %s:%d (%s; auth: %s; tracing: %s); NOT_SERVING until models are warm",
                 cfg.host, self.port, tls.describe(cfg), auth, cfg.otel_endpoint or ("on" if self.tracing else "off"))
        self.ready = asyncio.ensure_future(self._load())
        return self.port

    async def _load(self) -> None:
        service = await _in_daemon_thread(build_service, self.config, self.device, self.metrics)
        if self.config.demo:
            from .demo import ensure_demo

            await ensure_demo(service, self.config)
        self.service = service
        service.warm_sound_alike()
        await self._set_health(health_pb2.HealthCheckResponse.SERVING)
        log.info("SERVING %d collections, %.1fs after start", len(service.store.list()), time.perf_counter() - self.started_at)

    async def _set_health(self, status) -> None:
        for name in ["", *self._names]:
            await self._health.set(name, status)

    async def stop(self, grace: float | None = None) -> None:
        """Drain: NOT_SERVING at once, refuse new calls, give in-flight ones ``grace`` seconds, then close the
        batchers (they finish what they hold) and the index."""
        grace = self.config.grace_seconds if grace is None else grace
        await self._health.enter_graceful_shutdown()
        if self._server is not None:
            t0 = time.perf_counter()
            await self._server.stop(grace)
            log.info("gRPC server stopped after %.1fs (grace %.0fs)", time.perf_counter() - t0, grace)
        if self.ready is not None and not self.ready.done():
            self.ready.cancel()
        if self.service is not None:
            await self.service.aclose()
            self.service.store.close()
        self.metrics.close()
        if self.tracing is not None:
            self.tracing.shutdown()


async def _in_daemon_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a daemon thread. Not the loop's executor: ``asyncio.run`` joins that on exit, so a
    SIGTERM while the models load (tens of seconds on CPU) would wait for the load to finish and could
    overrun a pod's termination grace period. Loading only reads weights and opens the store (SQLite,
    crash-safe), so abandoning it at exit loses nothing."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if future.done():  # cancelled by stop()
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def run() -> None:
        try:
            result, error = fn(*args), None
        except BaseException as e:  # handed to the awaiting task
            result, error = None, e
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop has closed: the server is exiting
            pass

    threading.Thread(target=run, name="xmodal-load", daemon=True).start()
    return await future


async def serve(config: Config) -> None:
    """Run until SIGINT/SIGTERM, then drain gracefully."""
    # Handlers first: a signal that arrives while the port is being bound is a drain too, not a kill.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = App(config)
    port = await app.start()
    metrics = f"; metrics on :{app.metrics_port}/metrics" if app.metrics_port else ""
    print(f"xmodal listening on {config.host}:{port} (profile {config.profile}; {tls.describe(config)}{metrics}); "
          "loading models...", flush=True)
    ready = app.ready
    assert ready is not None
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([ready, waiter], return_when=asyncio.FIRST_COMPLETED)
    if ready.done() and ready.exception() is not None:
        await app.stop(0)
        raise ready.exception()  # type: ignore[misc]
    if ready.done():
        print(f"xmodal SERVING on {config.host}:{port} after {time.perf_counter() - app.started_at:.1f}s", flush=True)
        await waiter
    log.info("signal received: NOT_SERVING, refusing new calls, draining in-flight ones for up to %.0fs",
             config.grace_seconds)
    await app.stop()
    log.info("stopped cleanly")
