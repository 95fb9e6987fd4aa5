"""The index over the real gRPC API (real server, models, FAISS, SQLite): upsert, metadata filters in every
SearchBy*, index types and counts, and bad input that must name the item and write nothing."""
from __future__ import annotations

import uuid

import grpc
import numpy as np
import pytest

from xmodal import Item, XmodalClientError

pytestmark = pytest.mark.slow

TOPICS = ["refunds", "shipping", "routers", "passwords", "gift cards", "store hours"]


def fresh(client, index_type: str = "") -> str:
    name = f"ix-{uuid.uuid4().hex[:8]}"
    client.create_collection(name, index_type=index_type)
    return name


def code_of(fn) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(XmodalClientError) as e:
        fn()
    return e.value.code, e.value.details


@pytest.fixture(scope="module")
def catalog(client):
    """36 text items with two metadata fields; their stored vectors are the ground truth."""
    name = fresh(client, "exact")
    items = [Item.text(f"d{k}", f"note {k} about {TOPICS[k % 6]}, part {k // 6}",
                       {"topic": TOPICS[k % 6], "lang": ("en", "de", "fr")[k % 3]}) for k in range(36)]
    for i in range(0, len(items), 12):  # the test server's max_batch is 16
        client.add_items(name, items[i : i + 12])
    stored, _ = client.get_items(name, [it.id for it in items], include_vectors=True)
    return name, {s["id"]: (s["vector"], s["metadata"]) for s in stored}


def brute_force(catalog_vectors, q: np.ndarray, k: int, where: dict) -> list[str]:
    keep = [(float(v @ q), i) for i, (v, m) in catalog_vectors.items()
            if all(m[key] in ([val] if isinstance(val, str) else val) for key, val in where.items())]
    return [i for _, i in sorted(keep, key=lambda t: -t[0])[:k]]


@pytest.mark.parametrize("where", [
    {"topic": "routers"},
    {"lang": ["de", "fr"]},
    {"topic": ["refunds", "shipping", "passwords"], "lang": "en"},
])
def test_search_by_text_with_a_filter_is_the_exact_top_k_among_matching_items(client, catalog, where):
    name, truth = catalog
    query = "how do I reset my router password"
    q = client.embed_text([query]).vectors[0]
    hits = client.search_text(name, query, top_k=5, where=where).hits
    assert [h.id for h in hits] == brute_force(truth, q, 5, where)
    assert all(h.metadata[k] in ([v] if isinstance(v, str) else v) for h in hits for k, v in where.items())


def test_every_search_rpc_takes_the_filter(client, catalog, speech_wav):
    import io

    from PIL import Image

    name, _ = catalog
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="PNG")
    for result in (client.search_image(name, buf.getvalue(), top_k=3, where={"lang": "fr"}),
                   client.search_speech(name, speech_wav, top_k=3, where={"lang": "fr"})):
        assert len(result.hits) == 3 and {h.metadata["lang"] for h in result.hits} == {"fr"}


def test_search_by_vector_is_the_exact_top_k_of_the_given_vector(client, catalog):
    """SearchByVector embeds nothing: a query vector from EmbedText finds what SearchByText finds, a stored
    item's vector finds that item first, and filters apply as in every other search."""
    name, truth = catalog
    query = "how do I reset my router password"
    emb = client.embed_text([query])
    q = emb.vectors[0]
    by_vector = client.search_vector(name, q, top_k=5, space_id=emb.space_id)
    assert [h.id for h in by_vector.hits] == [h.id for h in client.search_text(name, query, top_k=5).hits]
    assert [h.id for h in by_vector.hits] == brute_force(truth, q, 5, {})
    assert by_vector.timing["model_ms"] == 0.0 and by_vector.space_id == emb.space_id
    # Not normalised by the caller: the server normalises, cosine scores stay in [-1, 1].
    scaled = client.search_vector(name, 7.5 * q, top_k=5, where={"lang": "de"})
    assert [h.id for h in scaled.hits] == brute_force(truth, q, 5, {"lang": "de"})
    assert all(-1.0001 <= h.score <= 1.0001 for h in scaled.hits)
    like = client.search_like(name, "d7", top_k=3)
    assert "d7" not in [h.id for h in like.hits] and len(like.hits) == 3
    assert [h.id for h in like.hits] == brute_force(truth, truth["d7"][0], 4, {})[1:]


@pytest.mark.parametrize("vector, phrase", [
    (np.ones(7, np.float32), "vector: vector has 7 values, the space has dim 384"),
    (np.full(384, np.nan, np.float32), "vector: vector contains NaN or infinite values"),
    (np.zeros(384, np.float32), "vector: vector has zero norm"),
])
def test_search_by_vector_rejects_bad_vectors(client, catalog, vector, phrase):
    code, details = code_of(lambda: client.search_vector(catalog[0], vector))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and phrase in details, details


def test_search_by_vector_checks_bytes_and_space(client, catalog):
    from xmodal.v1 import common_pb2, search_pb2

    bad = search_pb2.SearchByVectorRequest(collection=catalog[0], vector=common_pb2.Vector(data=b"\0" * 10, dim=384))
    with pytest.raises(grpc.RpcError) as e:
        client._search.SearchByVector(bad, timeout=60)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "10 bytes for dim 384" in e.value.details()
    code, details = code_of(lambda: client.search_vector(catalog[0], np.ones(384), space_id="embedded/another-checkpoint"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "embedded/another-checkpoint" in details, details
    assert code_of(lambda: client.search_vector("no-such-collection", np.ones(384)))[0] == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: client.search_like(catalog[0], "no-such-item"))[0] == grpc.StatusCode.NOT_FOUND


def test_upsert_replaces_and_plain_add_refuses(client):
    name = fresh(client)
    client.add_items(name, [Item.text("a", "the cat sat on the mat", {"v": "1"})])
    code, details = code_of(lambda: client.add_items(name, [Item.text("a", "again")]))
    assert code == grpc.StatusCode.ALREADY_EXISTS and "upsert" in details
    added, replaced = client.upsert_items(name, [Item.text("a", "quantum chromodynamics lecture notes", {"v": "2"}),
                                                 Item.text("b", "a recipe for bread")])
    assert (added, replaced) == (2, 1)
    [a], _ = client.get_items(name, ["a"])
    assert a["text"].startswith("quantum") and a["metadata"] == {"v": "2"}
    assert client.search_text(name, "physics of quarks", top_k=1).hits[0].id == "a"
    assert client.get_collection(name)["item_count"] == 2


def test_index_type_is_chosen_at_creation_and_reported_with_the_count(client):
    for index_type in ("exact", "ivf", "hnsw", "auto"):
        name = fresh(client, index_type)
        client.add_items(name, [Item.text(f"t{k}", f"text number {k}") for k in range(5)])
        c = client.get_collection(name)
        assert c["index_type"] == index_type and c["item_count"] == 5 and c["index_state"]
        assert client.search_text(name, "text number 3", top_k=1, nprobe=4, ef_search=32).hits[0].id == "t3"
    assert client.get_collection(name)["name"] == name
    assert code_of(lambda: client.get_collection("no-such-thing"))[0] == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("case, phrase", [
    ("wrong_dim", "items[1] (id 'v'): vector has 7 values"),
    ("nan", "items[1] (id 'v'): vector contains NaN or infinite"),
    ("inf", "items[1] (id 'v'): vector contains NaN or infinite"),
    ("minus_inf", "items[1] (id 'v'): vector contains NaN or infinite"),
    ("empty_id", "items[1] (id ''): id is empty"),
    ("long_id", "items[1] (id 'xxxx"),
    ("unknown_filter_field", "metadata field 'colour'"),
    ("filter_without_values", "filter[0] (key 'topic'): 0 values"),
    ("delete_empty_id", "ids[1]: id is empty"),
    ("get_long_id", "ids[0]: id has 300 characters"),
    ("upsert_nan", "items[1] (id 'v'): vector contains NaN"),
])
def test_bad_input_is_invalid_argument_naming_the_item_and_writes_nothing(client, case, phrase):
    name = fresh(client)
    client.add_items(name, [Item.text("taken", "an existing item", {"topic": "x"})])
    good = Item.text("good", "a perfectly fine item", {"topic": "y"})
    vec = np.zeros(384, np.float32)
    vec[0] = 1.0

    def vector(value):
        v = vec.copy()
        v[5] = value
        return Item.vector("v", v)

    calls = {
        "wrong_dim": lambda: client.add_items(name, [good, Item.vector("v", np.ones(7))]),
        "nan": lambda: client.add_items(name, [good, vector(np.nan)]),
        "inf": lambda: client.add_items(name, [good, vector(np.inf)]),
        "minus_inf": lambda: client.add_items(name, [good, vector(-np.inf)]),
        "empty_id": lambda: client.add_items(name, [good, Item.text("", "no id")]),
        "long_id": lambda: client.add_items(name, [good, Item.text("x" * 300, "long id")]),
        "unknown_filter_field": lambda: client.search_text(name, "hello", where={"colour": "red"}),
        "filter_without_values": lambda: client.search_text(name, "hello", where={"topic": []}),
        "delete_empty_id": lambda: client.delete_items(name, ["taken", ""]),
        "get_long_id": lambda: client.get_items(name, ["x" * 300]),
        "upsert_nan": lambda: client.upsert_items(name, [good, vector(np.nan)]),
    }
    code, details = code_of(calls[case])
    assert code == grpc.StatusCode.INVALID_ARGUMENT, details
    assert phrase in details, details
    items, _ = client.get_items(name, ["good", "taken", "v"])
    assert [i["id"] for i in items] == ["taken"]  # nothing of the failed request was written, nothing deleted
    assert client.get_collection(name)["item_count"] == 1


def test_the_milvus_backend_serves_the_same_api(tmp_path, speech_wav):
    """--index-backend milvus (Milvus Lite under the data directory) behind the real server."""
    pytest.importorskip("milvus_lite")
    from conftest import ServerThread

    from xmodal import Client
    from xmodal_server.config import Config

    server = ServerThread(Config(host="127.0.0.1", port=0, metrics_port=0, data_dir=str(tmp_path),
                                 index_backend="milvus")).start()
    try:
        with Client(server.address, timeout=120) as c:
            assert c.info().index_backend.startswith("milvus (Milvus Lite file")
            c.create_collection("notes", index_type="hnsw")
            c.add_items("notes", [Item.text("a", "the router needs a reset", {"room": "office"}),
                                  Item.text("b", "the router in the kitchen", {"room": "kitchen"}),
                                  Item.text("c", "bread recipe", {"room": "kitchen"})])
            assert c.upsert_items("notes", [Item.text("c", "sourdough bread recipe", {"room": "kitchen"})]) == (1, 1)
            hits = c.search_text("notes", "reset the router", top_k=3, where={"room": "kitchen"}).hits
            assert [h.id for h in hits][0] == "b" and {h.metadata["room"] for h in hits} == {"kitchen"}
            assert code_of(lambda: c.search_text("notes", "x", where={"floor": "1"}))[0] == grpc.StatusCode.INVALID_ARGUMENT
            # Speech: the sound-alike index reads the stored texts back from Milvus, and re-ranking its vectors.
            said = c.search_speech("notes", speech_wav, top_k=3, rerank=3, where={"room": "kitchen"})
            assert {h.id for h in said.hits} == {"b", "c"} and all(h.sound_alike is not None for h in said.hits)
            assert c.delete_items("notes", ["a", "zz"]) == (1, ["zz"])
            assert c.get_collection("notes")["item_count"] == 2 and c.get_collection("notes")["index_type"] == "hnsw"
    finally:
        server.stop()
    assert (tmp_path / "milvus.db").exists()


def test_cli_index_type_upsert_and_where(server):
    import json
    import subprocess
    import sys

    def xmodal(*args: str) -> str:
        return subprocess.run([sys.executable, "-m", "xmodal.cli", "--address", server.address, *args],
                              capture_output=True, text=True, check=True, timeout=300).stdout

    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert "index hnsw" in xmodal("collections", "create", name, "--index-type", "hnsw")
    xmodal("add", name, "--id", "s1", "--text", "blue running shoes", "--meta", "color=blue", "--meta", "size=42")
    xmodal("add", name, "--id", "s2", "--text", "red running shoes", "--meta", "color=red", "--meta", "size=42")
    assert "replaced s2" in xmodal("add", name, "--id", "s2", "--text", "red trail shoes", "--meta", "color=red",
                                   "--meta", "size=43", "--upsert")
    out = json.loads(xmodal("search", name, "--text", "shoes", "--where", "color=red", "--where", "color=green",
                            "--where", "size=43", "--ef-search", "16", "--json"))
    assert [h["id"] for h in out["hits"]] == ["s2"] and out["hits"][0]["text"] == "red trail shoes"
    like = json.loads(xmodal("search", name, "--like", "s1", "--top-k", "1", "--json"))
    assert [h["id"] for h in like["hits"]] == ["s2"]
