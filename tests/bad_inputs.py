"""The table of bad inputs every server must answer with a clear status, writing nothing and staying up: one
table, run against the real models (tests/integration/test_api.py) and the fake profile (tests/fast/)."""
from __future__ import annotations

import io
from typing import Any, Callable

import grpc
import numpy as np
import pytest
from PIL import Image

from xmodal import Item, XmodalClientError

# (case, expected status, a phrase the message must hold)
CASES = [
    ("truncated_png", grpc.StatusCode.INVALID_ARGUMENT, "truncated"),
    ("random_audio", grpc.StatusCode.INVALID_ARGUMENT, "audio"),
    ("empty_text", grpc.StatusCode.INVALID_ARGUMENT, "empty"),
    ("unknown_collection", grpc.StatusCode.NOT_FOUND, "does not exist"),
    ("duplicate_id", grpc.StatusCode.ALREADY_EXISTS, "already has"),
    ("top_k_zero", grpc.StatusCode.INVALID_ARGUMENT, "top_k"),
    ("top_k_million", grpc.StatusCode.INVALID_ARGUMENT, "top_k"),
    ("empty_id", grpc.StatusCode.INVALID_ARGUMENT, "id is empty"),
    ("wrong_dim_vector", grpc.StatusCode.INVALID_ARGUMENT, "dim"),
    ("nan_vector", grpc.StatusCode.INVALID_ARGUMENT, "NaN"),
    ("no_payload", grpc.StatusCode.INVALID_ARGUMENT, "no payload"),
    ("bad_collection_name", grpc.StatusCode.INVALID_ARGUMENT, "invalid"),
    ("too_many_texts", grpc.StatusCode.INVALID_ARGUMENT, "max_batch"),
    ("pcm_odd_bytes", grpc.StatusCode.INVALID_ARGUMENT, "odd"),
    ("pcm_bad_rate", grpc.StatusCode.INVALID_ARGUMENT, "sample rate"),
    ("long_id", grpc.StatusCode.INVALID_ARGUMENT, "more than 256"),
    ("too_much_metadata", grpc.StatusCode.INVALID_ARGUMENT, "metadata entries"),
    ("vector_bytes_mismatch", grpc.StatusCode.INVALID_ARGUMENT, "4*dim"),
    ("get_no_ids", grpc.StatusCode.INVALID_ARGUMENT, "no ids"),
    ("delete_unknown_collection", grpc.StatusCode.NOT_FOUND, "does not exist"),
    ("unknown_modality_filter", grpc.StatusCode.INVALID_ARGUMENT, "modality"),
    ("id_repeated_in_request", grpc.StatusCode.INVALID_ARGUMENT, "twice"),
    ("bad_direct_weight", grpc.StatusCode.INVALID_ARGUMENT, "direct_weight"),
]


def png(color, size=(96, 96)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def code_of(fn) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(XmodalClientError) as e:
        fn()
    return e.value.code, e.value.details


def raw_search_with_modality(client, name, value):
    """The client library refuses unknown modality names, so send the raw enum value."""
    from xmodal.v1 import search_pb2

    req = search_pb2.SearchByTextRequest(collection=name, text="x", options=search_pb2.SearchOptions(top_k=1, modalities=[value]))
    return client._call(client._search.SearchByText, req, lambda r: r)


def calls(client, name: str, dim: int, direct_weight_query: Callable[[], Any]) -> dict[str, Callable[[], Any]]:
    """Each case of CASES as a call against ``client``; ``name`` holds the item "taken"; ``dim``: the space's."""
    from xmodal.v1 import collection_pb2, common_pb2

    good = Item.text("good", "a perfectly fine item")
    return {
        "truncated_png": lambda: client.add_items(name, [good, Item.image("img", png((1, 2, 3))[:60])]),
        "random_audio": lambda: client.add_items(name, [good, Item.speech("s", np.random.default_rng(0).bytes(32000))]),
        "empty_text": lambda: client.search_text(name, "   "),
        "unknown_collection": lambda: client.search_text("no-such-collection", "hello"),
        "duplicate_id": lambda: client.add_items(name, [good, Item.text("taken", "again")]),
        "top_k_zero": lambda: client.search_text(name, "hello", top_k=0),
        "top_k_million": lambda: client.search_text(name, "hello", top_k=1_000_000),
        "empty_id": lambda: client.add_items(name, [good, Item.text("", "no id")]),
        "wrong_dim_vector": lambda: client.add_items(name, [good, Item.vector("v", np.ones(7))]),
        "nan_vector": lambda: client.add_items(name, [good, Item.vector("v", np.full(dim, np.nan))]),
        "no_payload": lambda: client.add_items(name, [good, collection_pb2.Item(id="empty")]),
        "bad_collection_name": lambda: client.create_collection("../etc"),
        "too_many_texts": lambda: client.embed_text(["t"] * 17),
        "pcm_odd_bytes": lambda: client.embed_speech([b"\x00\x01\x02"], pcm_sample_rate=16000),
        "pcm_bad_rate": lambda: client.search_speech(name, b"\x00\x00" * 16000, pcm_sample_rate=1000),
        "long_id": lambda: client.add_items(name, [good, Item.text("x" * 300, "long id")]),
        "too_much_metadata": lambda: client.add_items(name, [good, Item.text("m", "meta", {str(i): "v" for i in range(65)})]),
        "vector_bytes_mismatch": lambda: client.add_items(name, [good, collection_pb2.Item(
            id="v", vector=common_pb2.Vector(data=b"\0" * 10, dim=dim))]),
        "get_no_ids": lambda: client.get_items(name, []),
        "delete_unknown_collection": lambda: client.delete_items("no-such-collection", ["a"]),
        "unknown_modality_filter": lambda: raw_search_with_modality(client, name, 42),
        "id_repeated_in_request": lambda: client.add_items(name, [good, Item.text("good", "same id again")]),
        "bad_direct_weight": direct_weight_query,
    }


def check_refused(client, name: str, call: Callable[[], Any], expected_code, phrase: str) -> None:
    """The call fails with ``expected_code`` and a message holding ``phrase``; the good item of a failed batch is
    absent (nothing half-written) and the server still serves."""
    code, details = code_of(call)
    assert code == expected_code, details
    assert phrase.lower() in details.lower(), details
    items, _ = client.get_items(name, ["good", "taken"])
    assert [i["id"] for i in items] == ["taken"]
    assert client.health() == "SERVING"
