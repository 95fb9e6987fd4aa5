"""TLS, mutual TLS and bearer tokens on the real server (real models), plus what operators see of it:
JSON logs with request ids, spans, Prometheus counters of refused calls, and never a token in a log.

One server for the module (TLS + client certificates + tokens + an in-memory span exporter): a start
costs a model load. The test certificates are minted into tmp_path by ``tls_certs.make_certs``."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

import grpc
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import ServerThread
from tls_certs import make_certs, mtls_client, status_of
from xmodal import Client, Item, XmodalClientError
from xmodal.v1 import collection_pb2, collection_pb2_grpc, search_pb2, search_pb2_grpc
from xmodal_server.logs import JsonFormatter

pytestmark = pytest.mark.slow

READ = "read-0f9c2e77d4a1b6e3c5a8f2d1e0b9c7a6"
WRITE = "write-3b1e8d2c7a6f5e4d3c2b1a0f9e8d7c6b"
SECRETS = (READ, WRITE, "wrong-4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b")


class JsonLines(logging.Handler):
    """Everything the process logs during the module, formatted as the server would print it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._guard:
            self.lines.append(line)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def logs():
    handler = JsonLines()
    root, ours = logging.getLogger(), logging.getLogger("xmodal_server")
    old_level = ours.level
    root.addHandler(handler)
    ours.setLevel(logging.DEBUG)  # the per-RPC access lines too
    yield handler
    root.removeHandler(handler)
    ours.setLevel(old_level)


@pytest.fixture(scope="module")
def secure(certs, logs, tmp_path_factory):
    from xmodal_server import app as app_module
    from xmodal_server.config import Config

    root = tmp_path_factory.mktemp("secure")
    tokens = root / "tokens.txt"
    tokens.write_text(f"# test tokens\n{READ} read\n\n{WRITE} write\n")
    config = Config(host="127.0.0.1", port=0, metrics_port=0, data_dir=str(root / "data"), max_batch=16,
                    tls_cert_file=str(certs.server_cert), tls_key_file=str(certs.server_key),
                    tls_client_ca_file=str(certs.ca), auth_tokens_file=str(tokens))
    exporter = InMemorySpanExporter()
    real_app = app_module.App
    with pytest.MonkeyPatch.context() as mp:  # ServerThread builds the App; hand it the exporter
        mp.setattr(app_module, "App", lambda cfg: real_app(cfg, span_exporter=exporter))
        runner = ServerThread(config).start()
    runner.spans = exporter
    yield runner
    runner.stop()


def code_of_or_value(fn):
    try:
        return fn()
    except XmodalClientError as e:
        return e.code


def xmodal(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("XMODAL_")}
    return subprocess.run([sys.executable, "-m", "xmodal.cli", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=120)


# -- transport ------------------------------------------------------------------------------------

def test_mutual_tls_with_a_write_token_serves_everything(secure, certs):
    name = f"sec-{uuid.uuid4().hex[:6]}"
    with mtls_client(secure.address, certs, WRITE) as c:
        assert c.health() == "SERVING"
        c.create_collection(name)
        assert c.add_items(name, [Item.text("a", "refunds take five days"), Item.text("b", "parcel tracking")]) == 2
        assert c.search_text(name, "when is my money back", top_k=1).hits[0].id == "a"
        assert c.delete_items(name, ["b"]) == (1, [])
        c.delete_collection(name)
    # The certificate's DNS name works as well as its IP address.
    with Client(f"localhost:{secure.port}", timeout=60, tls_ca=certs.ca, tls_cert=certs.client_cert,
                tls_key=certs.client_key) as c:
        assert c.health() == "SERVING"


@pytest.mark.parametrize("how", ["plaintext", "tls without a client certificate",
                                 "a client certificate from another CA", "a client that does not trust the server"])
def test_connections_that_do_not_meet_mutual_tls_fail(secure, certs, how):
    kwargs = {
        "plaintext": {},
        "tls without a client certificate": {"tls_ca": certs.ca},
        "a client certificate from another CA": {"tls_ca": certs.ca, "tls_cert": certs.stranger_cert,
                                                 "tls_key": certs.stranger_key},
        "a client that does not trust the server": {"tls_ca": certs.stranger_cert, "tls_cert": certs.client_cert,
                                                    "tls_key": certs.client_key},
    }[how]
    with Client(secure.address, timeout=10, token=READ, **kwargs) as c:
        assert status_of(c.health) == grpc.StatusCode.UNAVAILABLE


def test_tls_only_server_answers_health_probes_before_the_models_load(certs, tmp_path, monkeypatch):
    """Server-side TLS without client certificates, and ``xmodal health --tls-ca`` as a k8s exec probe
    runs it. Health answers from the moment the port is bound, so this server never needs its models:
    ``build_service`` is replaced by a fake that waits until the test ends."""
    import asyncio

    from xmodal_server import app as app_module
    from xmodal_server.app import App
    from xmodal_server.config import Config

    release = threading.Event()

    def never_loads(*args):  # fake: stands in for the model load, which this test does not need
        release.wait(120)
        raise RuntimeError("test over")

    monkeypatch.setattr(app_module, "build_service", never_loads)

    async def scenario():
        app = App(Config(port=0, metrics_port=-1, data_dir=str(tmp_path), tls_cert_file=str(certs.server_cert),
                         tls_key_file=str(certs.server_key)))
        port = await app.start()
        address = f"127.0.0.1:{port}"
        try:
            loop = asyncio.get_running_loop()
            with Client(address, timeout=10, tls_ca=certs.ca) as c:
                assert await loop.run_in_executor(None, c.health) == "NOT_SERVING"
            with Client(address, timeout=10) as c:
                assert await loop.run_in_executor(None, status_of, c.health) == grpc.StatusCode.UNAVAILABLE
            for name, expected in (("localhost", "NOT_SERVING"), ("elsewhere.example", grpc.StatusCode.UNAVAILABLE)):
                with Client(address, timeout=10, tls_ca=certs.ca, tls_server_name=name) as c:  # name checked
                    assert await loop.run_in_executor(None, code_of_or_value, c.health) == expected
            probe = await loop.run_in_executor(None, lambda: xmodal("health", "--address", address, "--tls-ca", str(certs.ca)))
            assert (probe.returncode, probe.stdout.strip()) == (1, "NOT_SERVING")  # exit 1 until SERVING
            plain = await loop.run_in_executor(None, lambda: xmodal("--address", address, "--timeout", "10", "health"))
            assert plain.returncode == 1 and "UNAVAILABLE" in plain.stderr and "--tls-ca" in plain.stderr
        finally:
            release.set()
            await app.stop(0)
            await asyncio.gather(app.ready, return_exceptions=True)  # the fake's "test over"

    asyncio.run(scenario())


@pytest.mark.parametrize("flags, phrase, rc", [
    (["--tls-cert-file", "server.pem"], "set both", 2),
    (["--tls-cert-file", "missing.pem", "--tls-key-file", "missing.key"], "config tls_cert_file='missing.pem': cannot read it", 1),
    (["--auth-tokens-file", "missing-tokens.txt"], "config auth_tokens_file='missing-tokens.txt': cannot read it", 1),
])
def test_serve_refuses_to_start_with_a_bad_security_setting(tmp_path, flags, phrase, rc):
    proc = xmodal("serve", "--port", "0", "--metrics-port", "-1", "--data-dir", str(tmp_path), *flags)
    assert proc.returncode == rc and phrase in proc.stderr, proc.stderr


# -- tokens ---------------------------------------------------------------------------------------

def test_missing_or_wrong_token_is_unauthenticated_health_needs_none(secure, certs):
    with mtls_client(secure.address, certs) as c:
        assert c.health() == "SERVING"
        with pytest.raises(XmodalClientError) as e:
            c.list_collections()
        assert e.value.code == grpc.StatusCode.UNAUTHENTICATED and "XMODAL_TOKEN" in e.value.details
    with mtls_client(secure.address, certs, SECRETS[2]) as c:
        assert status_of(c.list_collections) == grpc.StatusCode.UNAUTHENTICATED
        assert status_of(lambda: c.embed_text(["x"])) == grpc.StatusCode.UNAUTHENTICATED


def test_a_read_token_reads_and_is_denied_every_write(secure, certs):
    name = f"ro-{uuid.uuid4().hex[:6]}"
    with mtls_client(secure.address, certs, WRITE) as w:
        w.create_collection(name)
        w.add_items(name, [Item.text("x1", "stainless steel kettle")])
    with mtls_client(secure.address, certs, READ) as r:
        assert r.search_text(name, "kettle", top_k=1).hits[0].id == "x1"
        assert r.get_items(name, ["x1"])[0][0]["id"] == "x1"
        assert name in {col["name"] for col in r.list_collections()}
        assert r.embed_text(["hello"]).vectors.shape == (1, 384) and r.info().shared_dim == 384
        writes = {
            "CreateCollection": lambda: r.create_collection(name + "-2"),
            "AddItems": lambda: r.add_items(name, [Item.text("x2", "teapot")]),
            "DeleteItems": lambda: r.delete_items(name, ["x1"]),
            "ReindexCollection": lambda: r.reindex_collection(name),
            "DeleteCollection": lambda: r.delete_collection(name),
        }
        for rpc, call in writes.items():
            with pytest.raises(XmodalClientError) as e:
                call()
            assert e.value.code == grpc.StatusCode.PERMISSION_DENIED and rpc in e.value.details
        assert r.get_items(name, ["x1", "x2"])[1] == ["x2"]  # nothing was written


def test_cli_with_tls_flags_and_token_variable(secure, certs):
    tls = ["--tls-ca", str(certs.ca), "--tls-cert", str(certs.client_cert), "--tls-key", str(certs.client_key)]
    env = {"XMODAL_ADDRESS": secure.address}
    probe = xmodal("health", *tls, env=env)
    assert (probe.returncode, probe.stdout.strip()) == (0, "SERVING"), probe.stderr
    denied = xmodal(*tls, "collections", "list", env=env)
    assert denied.returncode == 1 and "UNAUTHENTICATED" in denied.stderr
    assert "--token" in denied.stderr and "XMODAL_TOKEN" in denied.stderr
    listed = xmodal("collections", "list", "--json", env={**env, "XMODAL_TOKEN": READ, "XMODAL_TLS_CA": str(certs.ca),
                                                           "XMODAL_TLS_CERT": str(certs.client_cert),
                                                           "XMODAL_TLS_KEY": str(certs.client_key)})
    assert listed.returncode == 0 and isinstance(json.loads(listed.stdout), list), listed.stderr


# -- what operators see ---------------------------------------------------------------------------

def secure_stubs(secure, certs):
    creds = grpc.ssl_channel_credentials(certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes())
    channel = grpc.secure_channel(secure.address, creds)
    return channel, search_pb2_grpc.SearchServiceStub(channel), collection_pb2_grpc.CollectionServiceStub(channel)


def call_with(method, request, token: str, rid: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as e:
        method(request, timeout=60, metadata=(("authorization", f"Bearer {token}"), ("x-request-id", rid)))
    return e.value


def eventually(fetch, what: str, timeout: float = 10.0):
    """The status reaches the caller as the server aborts; the span and the log line end a moment later."""
    end = time.monotonic() + timeout
    while not (found := fetch()):
        assert time.monotonic() < end, f"never happened: {what}"
        time.sleep(0.01)
    return found


def test_request_id_is_returned_and_traced(secure, certs):
    channel, search, collections = secure_stubs(secure, certs)
    with channel:
        missing = call_with(search.SearchByText, search_pb2.SearchByTextRequest(collection="no-such", text="x"),
                            READ, "ops-trace-1")
        denied = call_with(collections.AddItems, collection_pb2.AddItemsRequest(collection="no-such"),
                           READ, "ops-trace-2")
    assert missing.code() == grpc.StatusCode.NOT_FOUND and denied.code() == grpc.StatusCode.PERMISSION_DENIED
    assert ("x-request-id", "ops-trace-1") in tuple(missing.trailing_metadata())
    assert ("x-request-id", "ops-trace-2") in tuple(denied.trailing_metadata())

    def span(rid):
        return [s for s in secure.spans.get_finished_spans() if s.attributes.get("xmodal.request_id") == rid]

    (found,) = eventually(lambda: span("ops-trace-1"), "a span for ops-trace-1")
    assert found.name == "xmodal.v1.SearchService/SearchByText" and found.attributes["rpc.method"] == "SearchByText"
    assert found.attributes["rpc.grpc.status_code"] == grpc.StatusCode.NOT_FOUND.value[0]
    (refused,) = eventually(lambda: span("ops-trace-2"), "a span for ops-trace-2")
    assert refused.attributes["rpc.grpc.status_code"] == grpc.StatusCode.PERMISSION_DENIED.value[0]


def test_metrics_stay_plain_http_and_count_refused_calls(secure, certs):
    with mtls_client(secure.address, certs) as anonymous, mtls_client(secure.address, certs, READ) as reader:
        assert status_of(anonymous.list_collections) == grpc.StatusCode.UNAUTHENTICATED
        assert status_of(lambda: reader.add_items("x", [Item.text("a", "b")])) == grpc.StatusCode.PERMISSION_DENIED
    # Refusals are counted before the status is sent, so the scrape sees them at once.
    with urllib.request.urlopen(f"http://127.0.0.1:{secure.app.metrics_port}/metrics", timeout=30) as r:
        text = r.read().decode()
    assert 'xmodal_rpc_requests_total{code="UNAUTHENTICATED",method="ListCollections"}' in text
    assert 'xmodal_rpc_requests_total{code="PERMISSION_DENIED",method="AddItems"}' in text


def test_json_logs_carry_request_ids_and_never_a_token(secure, certs, logs):
    """Last in the file: besides its own calls, it reads everything this module's server logged so far."""
    channel, search, _ = secure_stubs(secure, certs)
    with channel:
        request = search_pb2.SearchByTextRequest(collection="no-such", text="x")
        call_with(search.SearchByText, request, READ, "logs-ok")  # NOT_FOUND
        call_with(search.SearchByText, request, SECRETS[2], "logs-refused")  # UNAUTHENTICATED
    with mtls_client(secure.address, certs, WRITE) as c:
        c.list_collections()

    def records():
        return [json.loads(line) for line in list(logs.lines)]

    eventually(lambda: any(r.get("request_id") == "logs-refused" and "UNAUTHENTICATED" in r["message"]
                           for r in records()), "the access line of the refused call")
    everything = records()
    assert all({"time", "level", "logger", "message"} <= set(r) for r in everything)
    refused = [r for r in everything if r["message"].startswith("refused ")]
    assert any(r.get("request_id") == "logs-refused" for r in refused)
    assert all(len(r.get("request_id", "")) > 0 for r in refused)
    assert any(r.get("request_id") == "logs-ok" and "SearchByText NOT_FOUND" in r["message"] for r in everything)
    text = "\n".join(logs.lines)
    for secret in SECRETS:
        assert secret not in text and secret[-12:] not in text
