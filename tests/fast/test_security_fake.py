"""Mutual TLS, bearer tokens and the metrics of refused calls on the real server with the fake encoder profile
(encoders/fake.py), so the security path is in the fast tier too; tests/integration/test_security.py checks
the same and more (logs, spans, the CLI) with the real models (slow)."""
from __future__ import annotations

import urllib.request
import uuid

import grpc
import pytest

from conftest import ServerThread, fake_config
from tls_certs import make_certs, mtls_client, status_of
from xmodal import Client, Item, XmodalClientError
from xmodal_server.encoders import fake

READ = "read-5c1d9e0a7b3f4e2d8c6a1b0f9e8d7c6b"
WRITE = "write-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def secure(certs, tmp_path_factory):
    root = tmp_path_factory.mktemp("secure-fake")
    tokens = root / "tokens.txt"
    tokens.write_text(f"# test tokens\n{READ} read\n{WRITE} write\n")
    runner = ServerThread(fake_config(root / "data", metrics_port=0, tls_cert_file=str(certs.server_cert),
                                      tls_key_file=str(certs.server_key), tls_client_ca_file=str(certs.ca),
                                      auth_tokens_file=str(tokens))).start(timeout=120)
    yield runner
    runner.stop()




def test_mutual_tls_with_a_write_token_serves_everything(secure, certs):
    name = f"sec-{uuid.uuid4().hex[:6]}"
    with mtls_client(secure.address, certs, WRITE) as c:
        c.create_collection(name)
        c.add_items(name, [Item.text("a", "refunds take five days"), Item.speech("s", fake.wav(fake.synthesize("track my parcel")))])
        assert c.search_text(name, "refunds days", top_k=1).hits[0].id == "a"
        assert c.search_speech(name, fake.wav(fake.synthesize("track my parcel")), top_k=1).hits[0].id == "s"
        c.delete_collection(name)


@pytest.mark.parametrize("how", ["plaintext", "tls without a client certificate", "a client certificate from another CA"])
def test_connections_that_do_not_meet_mutual_tls_fail(secure, certs, how):
    kwargs = {
        "plaintext": {},
        "tls without a client certificate": {"tls_ca": certs.ca},
        "a client certificate from another CA": {"tls_ca": certs.ca, "tls_cert": certs.stranger_cert,
                                                 "tls_key": certs.stranger_key},
    }[how]
    with Client(secure.address, timeout=10, token=READ, **kwargs) as c:
        assert status_of(c.health) == grpc.StatusCode.UNAVAILABLE


def test_tokens_unauthenticated_without_and_read_only_with_a_read_token(secure, certs):
    name = f"ro-{uuid.uuid4().hex[:6]}"
    with mtls_client(secure.address, certs, WRITE) as w:
        w.create_collection(name)
        w.add_items(name, [Item.text("x1", "stainless steel kettle")])
    with mtls_client(secure.address, certs) as anonymous:
        assert anonymous.health() == "SERVING"  # health needs no token
        assert status_of(anonymous.list_collections) == grpc.StatusCode.UNAUTHENTICATED
    with mtls_client(secure.address, certs, READ) as r:
        assert r.search_text(name, "kettle", top_k=1).hits[0].id == "x1"
        assert r.embed_text(["hello"]).vectors.shape == (1, fake.DIM)
        for rpc, call in {"AddItems": lambda: r.add_items(name, [Item.text("x2", "teapot")]),
                          "DeleteCollection": lambda: r.delete_collection(name)}.items():
            with pytest.raises(XmodalClientError) as e:
                call()
            assert e.value.code == grpc.StatusCode.PERMISSION_DENIED and rpc in e.value.details
        assert r.get_items(name, ["x1", "x2"])[1] == ["x2"]  # nothing was written
    with urllib.request.urlopen(f"http://127.0.0.1:{secure.app.metrics_port}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    assert 'xmodal_rpc_requests_total{code="UNAUTHENTICATED",method="ListCollections"}' in text
    assert 'xmodal_rpc_requests_total{code="PERMISSION_DENIED",method="AddItems"}' in text
