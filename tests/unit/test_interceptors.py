"""The interceptors on a real gRPC server over loopback, with the real servicers but no models loaded
(every xmodal RPC then answers UNAVAILABLE "models are still loading", which proves a call got past
authentication): request ids, spans (the SDK's in-memory exporter), token checks, metrics. Fast."""
import logging

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from xmodal.v1 import collection_pb2, collection_pb2_grpc, info_pb2, info_pb2_grpc
from xmodal_server.api.auth import AuthInterceptor, parse_tokens
from xmodal_server.api.interceptors import ObservedServer
from xmodal_server.api.servicers import add_all
from xmodal_server.errors import InvalidInput
from xmodal_server.metrics import Metrics
from xmodal_server.tracing import start_tracing

READ, WRITE = "read-token-for-interceptor-tests", "write-token-for-interceptor-tests"


@pytest.fixture(scope="module")
async def wire():
    exporter = InMemorySpanExporter()
    tracing = start_tracing("", exporter)
    metrics = Metrics()
    server = grpc.aio.server(interceptors=[
        AuthInterceptor(parse_tokens(f"{READ} read\n{WRITE} write\n"), metrics, tracing.tracer),
    ])
    observed = ObservedServer(server, tracing.tracer)  # as app.py registers them
    add_all(observed, lambda: None, "none", "cpu", metrics)
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), observed)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield channel, exporter, metrics
    await channel.close()
    await server.stop(0)
    tracing.shutdown()


async def outcome(call):
    try:
        await call
        code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        code = e.code()
    return code, dict(await call.trailing_metadata())


def md(token=None, rid=None):
    out = []
    if token:
        out.append(("authorization", f"Bearer {token}"))
    if rid:
        out.append(("x-request-id", rid))
    return tuple(out)


async def test_request_id_echoed_or_generated_even_on_failure(wire):
    channel, exporter, _ = wire
    info = info_pb2_grpc.InfoServiceStub(channel)
    code, trailing = await outcome(info.GetInfo(info_pb2.GetInfoRequest(), metadata=md(READ, "trace-me-1")))
    assert code == grpc.StatusCode.UNAVAILABLE and trailing["x-request-id"] == "trace-me-1"
    code, trailing = await outcome(info.GetInfo(info_pb2.GetInfoRequest(), metadata=md(None)))
    assert code == grpc.StatusCode.UNAUTHENTICATED and len(trailing["x-request-id"]) == 32
    # A caller's id that could break a log line is replaced, not echoed.
    _, trailing = await outcome(info.GetInfo(info_pb2.GetInfoRequest(), metadata=md(READ, "two words")))
    assert trailing["x-request-id"] != "two words"


async def test_one_span_per_rpc_with_method_status_and_request_id(wire):
    channel, exporter, _ = wire
    exporter.clear()
    coll = collection_pb2_grpc.CollectionServiceStub(channel)
    await outcome(coll.AddItems(collection_pb2.AddItemsRequest(), metadata=md(READ, "span-1")))
    await outcome(coll.ListCollections(collection_pb2.ListCollectionsRequest(), metadata=md(WRITE, "span-2")))
    await outcome(health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest()))
    spans = {s.attributes.get("xmodal.request_id", s.name): s for s in exporter.get_finished_spans()}
    denied, listed = spans["span-1"], spans["span-2"]
    assert denied.name == "xmodal.v1.CollectionService/AddItems"
    assert denied.attributes["rpc.method"] == "AddItems" and denied.attributes["rpc.system"] == "grpc"
    assert denied.attributes["rpc.grpc.status_code"] == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert denied.status.status_code.name == "UNSET"  # the caller's error, not the server's
    assert listed.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAVAILABLE.value[0]
    assert listed.status.status_code.name == "ERROR"
    assert any(s.name == "grpc.health.v1.Health/Check" for s in exporter.get_finished_spans())
    for s in exporter.get_finished_spans():
        assert READ not in str(dict(s.attributes)) and WRITE not in str(dict(s.attributes))


async def test_scopes_on_the_wire_and_refusals_counted(wire, caplog):
    channel, _, metrics = wire
    caplog.set_level(logging.DEBUG)
    coll = collection_pb2_grpc.CollectionServiceStub(channel)
    add = collection_pb2.AddItemsRequest(collection="x")

    def count(code):
        labels = {"method": "AddItems", "code": code}
        return metrics.registry.get_sample_value("xmodal_rpc_requests_total", labels) or 0

    before = count("UNAUTHENTICATED"), count("PERMISSION_DENIED")
    assert (await outcome(coll.AddItems(add)))[0] == grpc.StatusCode.UNAUTHENTICATED
    assert (await outcome(coll.AddItems(add, metadata=md("not-a-token-at-all"))))[0] == grpc.StatusCode.UNAUTHENTICATED
    assert (await outcome(coll.AddItems(add, metadata=md(READ))))[0] == grpc.StatusCode.PERMISSION_DENIED
    assert (await outcome(coll.AddItems(add, metadata=md(WRITE))))[0] == grpc.StatusCode.UNAVAILABLE  # got through
    hc = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert (await outcome(hc))[0] == grpc.StatusCode.OK
    assert (count("UNAUTHENTICATED") - before[0], count("PERMISSION_DENIED") - before[1]) == (2, 1)
    assert "refused /xmodal.v1.CollectionService/AddItems" in caplog.text
    for secret in (READ, WRITE, "not-a-token-at-all"):
        assert secret not in caplog.text


def test_tracing_without_the_otel_extra_says_what_to_install():
    try:
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter  # noqa: F401
    except ImportError:
        with pytest.raises(InvalidInput, match="otel_endpoint='http://collector:4317'.*pip install 'xmodal-server\\[otel\\]'"):
            start_tracing("http://collector:4317")
    else:
        start_tracing("http://collector:4317").shutdown()
