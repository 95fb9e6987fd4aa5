"""Dynamic batching, batched search, overload and metrics on the real server over gRPC.

No timing is asserted. To make batching observable deterministically, a test holds the server's single
model thread with a job that waits on a gate: requests pile up behind it, then the gate opens."""
from __future__ import annotations

import contextlib
import io
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from PIL import Image

from xmodal import Client, Item, XmodalClientError

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def model_thread_held(service):
    gate = threading.Event()
    job = service.model_pool.submit(gate.wait, 120)
    try:
        yield
    finally:
        gate.set()
        job.result()


def wait_until(condition, what: str, timeout: float = 120) -> None:
    """A liveness guard (the condition must become true), not a timing assertion."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.01)


def outcome(fn):
    try:
        return fn()
    except XmodalClientError as e:
        return e.code


def scrape(server) -> str:
    port = server.app.metrics_port
    assert port > 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        return r.read().decode()


def png(color) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buf, format="PNG")
    return buf.getvalue()


def test_concurrent_single_item_requests_share_one_model_call(server, client):
    service = server.app.service
    text = service.batchers["text"]
    before = text.stats.sizes.copy()
    with ThreadPoolExecutor(8) as pool, model_thread_held(service):
        futures = [pool.submit(client.embed_text, [f"sentence number {i}"]) for i in range(8)]
        wait_until(lambda: text.pending == 8, "all 8 requests reached the text batcher")
    vectors = [f.result().vectors for f in futures]
    assert all(v.shape == (1, 384) for v in vectors)
    new = text.stats.sizes - before
    assert sum(size * n for size, n in new.items()) == 8 and max(new) > 1
    # Each request got its own row: the same text alone gives the same vector.
    assert abs(float(client.embed_text(["sentence number 3"]).vectors[0] @ vectors[3][0]) - 1) < 1e-4
    assert 'xmodal_batch_size_bucket{batcher="text",le="1.0"}' in scrape(server)


def test_a_bad_image_fails_only_its_own_request(server, client):
    service = server.app.service
    good, bad = png((200, 30, 30)), png((0, 0, 0))[:40]
    with ThreadPoolExecutor(5) as pool, model_thread_held(service):
        futures = [pool.submit(outcome, lambda d=d: client.embed_image([d]).vectors.shape) for d in (good, good, bad, good, good)]
        wait_until(lambda: service.batchers["image"].pending == 4, "the 4 good images reached the image batcher")
    assert [f.result() for f in futures] == [(1, 384)] * 2 + [grpc.StatusCode.INVALID_ARGUMENT] + [(1, 384)] * 2


def test_speech_requests_share_a_batch_only_with_equal_options(server, client, speech_wav):
    service = server.app.service
    speech = service.batchers["speech"]
    weights = [None, 2.0, None, 2.0]  # 2.0 is out of range: that option group fails, the other does not
    with ThreadPoolExecutor(4) as pool, model_thread_held(service):
        futures = [pool.submit(outcome, lambda w=w: client.embed_speech([speech_wav], mode="direct", direct_weight=w).vectors.shape)
                   for w in weights]
        wait_until(lambda: speech.pending == 4, "all 4 speech requests reached the speech batcher")
    assert [f.result() for f in futures] == [(1, 384), grpc.StatusCode.INVALID_ARGUMENT] * 2


def test_a_request_whose_deadline_passes_in_the_queue_is_never_computed(server, client):
    service = server.app.service
    text = service.batchers["text"]
    items, dropped = text.stats.items, text.stats.dropped
    with ThreadPoolExecutor(2) as pool, model_thread_held(service), Client(server.address, timeout=0.5) as hasty:
        first = pool.submit(client.embed_text, ["the batch in flight"])
        wait_until(lambda: text.pending == 1, "the first request is in flight")
        late = pool.submit(outcome, lambda: hasty.embed_text(["too late"]))
        assert late.result() == grpc.StatusCode.DEADLINE_EXCEEDED
    first.result()
    client.embed_text(["after"])  # the collector passes the dead request on its way to this one
    assert text.stats.dropped == dropped + 1 and text.stats.items == items + 2
    assert 'xmodal_rpc_requests_total{code="DEADLINE_EXCEEDED",method="EmbedText"}' in scrape(server)


def test_batched_search_returns_exactly_the_hits_of_single_searches(server, client):
    name = f"bs-{uuid.uuid4().hex[:8]}"
    client.create_collection(name)
    client.add_items(name, [Item.text(f"t{i}", f"note {i} about {topic}") for i, topic in
                            enumerate(["cats", "dogs", "the bank", "trains", "rain", "coffee", "music", "soup"] * 2)])
    client.add_items(name, [Item.image(f"img{i}", png((40 * i, 100, 200 - 30 * i))) for i in range(5)])
    queries = [(f"something about {w}", k, mods) for w in ("pets", "money", "weather", "drinks", "songs", "travel")
               for k, mods in ((3, ()), (7, ()), (2, ("image",)), (5, ("text",)))]
    alone = [client.search_text(name, q, top_k=k, modalities=m).hits for q, k, m in queries]

    service = server.app.service
    search = service.batchers["search"]
    before = search.stats.sizes.copy()
    with ThreadPoolExecutor(len(queries)) as pool, model_thread_held(service):
        futures = [pool.submit(client.search_text, name, q, top_k=k, modalities=m) for q, k, m in queries]
        wait_until(lambda: service.batchers["text"].pending == len(queries), "every query reached the text batcher")
    together = [f.result().hits for f in futures]
    assert max(search.stats.sizes - before) > 1  # some searches did share an index call
    for a, b, (_, k, mods) in zip(alone, together, queries):
        assert [h.id for h in b] == [h.id for h in a] and len(b) == min(k, 5 if mods == ("image",) else 21)
        assert [h.score for h in b] == pytest.approx([h.score for h in a], abs=1e-4)
        assert all(h.modality in (mods or ("text", "image")) for h in b)


@pytest.fixture(scope="module")
def tiny_queue_server(tmp_path_factory):
    from conftest import ServerThread
    from xmodal_server.config import Config

    config = Config(port=0, metrics_port=0, data_dir=str(tmp_path_factory.mktemp("tiny-queue")),
                    batch_queue_size=2, batch_max_size=2)
    runner = ServerThread(config).start()
    yield runner
    runner.stop()


def test_overload_gets_resource_exhausted_at_once_and_the_server_keeps_serving(tiny_queue_server):
    server = tiny_queue_server
    service = server.app.service
    n = 12  # at most 2 in flight + 2 queued can be admitted
    with Client(server.address, timeout=120) as c:
        with ThreadPoolExecutor(n) as pool, model_thread_held(service):
            futures = [pool.submit(outcome, lambda i=i: c.embed_text([f"request {i}"]).vectors.shape) for i in range(n)]
            # Refusals come back while the model thread is still held: they never waited for it.
            wait_until(lambda: sum(f.done() for f in futures) >= n - 4, "the excess requests were refused")
        results = [f.result() for f in futures]
        assert results.count((1, 384)) >= 1 and set(results) == {(1, 384), grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert results.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= n - 4
        assert c.health() == "SERVING"
        assert c.embed_text(["fine again"]).vectors.shape == (1, 384)
    text = scrape(server)
    assert 'xmodal_rpc_requests_total{code="RESOURCE_EXHAUSTED",method="EmbedText"}' in text


def test_prometheus_endpoint_has_rpc_counts_latency_and_batcher_metrics(server, client):
    client.embed_text(["count me"])
    with pytest.raises(XmodalClientError):
        client.search_text("no-such-collection", "hello")
    text = scrape(server)
    for needle in (
        'xmodal_rpc_requests_total{code="OK",method="EmbedText"}',
        'xmodal_rpc_requests_total{code="NOT_FOUND",method="SearchByText"}',
        'xmodal_rpc_duration_seconds_bucket{le="0.005",method="EmbedText"}',
        'xmodal_rpc_duration_seconds_count{method="EmbedText"}',
        'xmodal_batch_size_count{batcher="text"}',
        'xmodal_queue_depth{batcher="text"} 0.0',
        'xmodal_model_duration_seconds_count{batcher="text"}',
    ):
        assert needle in text, needle
