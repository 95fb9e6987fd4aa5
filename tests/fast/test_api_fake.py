"""Every RPC of the real server (gRPC, batchers, FAISS, SQLite on disk) over loopback, with the fake encoder
profile (encoders/fake.py) instead of real models, so each test takes milliseconds. What the vectors mean is
only what the fakes' rules make them mean (shared words; a red image near "red"; speech carrying its text);
the real models' behaviour is tested in tests/integration (slow)."""
from __future__ import annotations

import uuid

import grpc
import numpy as np
import pytest

from xmodal import Item
from xmodal_server.encoders import fake

import bad_inputs
from bad_inputs import CASES, calls, check_refused, code_of

DIM = fake.DIM
SPACE = "fake/zero-shot-v0"


def png(color, size=(32, 32)) -> bytes:
    return bad_inputs.png(color, size)


def said(text: str, heard: str | None = None) -> bytes:
    """A WAV file in which the fake recogniser hears ``heard`` (default: ``text``) and ``text`` was said."""
    return fake.wav(fake.synthesize(text, heard))


def fresh(client, prefix="c", items=()) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.create_collection(name)
    if items:
        client.add_items(name, list(items))
    return name


# -- info and health ------------------------------------------------------------------------------------------

def test_info_names_the_fake_profile_and_the_builtin_heads(fake_client):
    from xmodal.v1 import common_pb2

    info = fake_client.info()
    assert info.profile == "fake" and info.shared_dim == DIM and info.space_id == SPACE
    assert {e.name for e in info.encoders} == {"fake-text", "fake-image", "fake-speech"}
    assert all("tests only" in e.architecture for e in info.encoders)
    assert {e.head for e in info.encoders} == {"identity", "conse(top=10)", "transcribe"}
    assert info.checkpoint_id == "zero-shot-v0" and info.aligned is False and not info.metrics
    assert list(info.speech_modes) == [common_pb2.SPEECH_MODE_TRANSCRIBE]
    assert info.rerank_gate == fake.FakeSpeechEncoder.rerank_gate and info.rerank_candidates == 5


def test_health_serving_for_server_and_each_service(fake_client):
    for svc in ("", "xmodal.v1.EmbeddingService", "xmodal.v1.CollectionService", "xmodal.v1.SearchService",
                "xmodal.v1.InfoService"):
        assert fake_client.health(svc) == "SERVING"


# -- embedding ------------------------------------------------------------------------------------------------

def test_embed_text_unit_vectors_shared_words_and_space(fake_client):
    e = fake_client.embed_text(["the red apple", "a red apple pie", "router lights blinking"])
    assert e.vectors.shape == (3, DIM) and e.vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(e.vectors, axis=1), 1, atol=1e-5)
    sims = e.vectors @ e.vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.3
    assert e.space_id == SPACE and e.truncated == [False] * 3


def test_embed_text_is_deterministic_and_batch_independent(fake_client):
    a = fake_client.embed_text(["red apple", "green pear"]).vectors
    b = fake_client.embed_text(["green pear"]).vectors
    assert np.array_equal(a[1], b[0])


def test_embed_text_reports_truncation(fake_client):
    limit = fake.TEXT_MAX_TOKENS - 2  # words, beside the two special tokens
    e = fake_client.embed_text(["word " * limit, "word " * (limit + 1)])
    assert e.truncated == [False, True]


def test_embed_image_reaches_the_text_of_its_colour(fake_client):
    images = fake_client.embed_image([png((220, 20, 20)), png((20, 40, 230), size=(50, 20))]).vectors
    assert images.shape == (2, DIM) and np.allclose(np.linalg.norm(images, axis=1), 1, atol=1e-5)
    texts = fake_client.embed_text(["red", "blue"]).vectors
    assert np.argmax(images @ texts.T, axis=1).tolist() == [0, 1]  # ConSE over the fake's colour names


def test_embed_speech_transcribes_wav_and_raw_pcm(fake_client):
    wave = fake.synthesize("how long do I have to return an item")
    by_wav = fake_client.embed_speech([fake.wav(wave)])
    by_pcm = fake_client.embed_speech([fake.pcm16(wave)], pcm_sample_rate=16000)
    assert by_wav.transcripts == by_pcm.transcripts == ["how long do I have to return an item"]
    assert np.allclose(by_wav.vectors, by_pcm.vectors)
    # transcribe mode: the transcript's text vector
    assert np.allclose(by_wav.vectors[0], fake_client.embed_text(["how long do I have to return an item"]).vectors[0], atol=1e-6)


def test_silence_transcribes_to_nothing_and_still_embeds(fake_client):
    e = fake_client.embed_speech([np.zeros(8000, "<i2").tobytes()], pcm_sample_rate=16000)
    assert e.transcripts == [""] and np.isclose(np.linalg.norm(e.vectors[0]), 1, atol=1e-5)


# -- collections and items ------------------------------------------------------------------------------------

def test_collection_lifecycle(fake_client):
    name = fresh(fake_client)
    got = fake_client.get_collection(name)
    assert got["name"] == name and got["item_count"] == 0 and got["dim"] == DIM and got["space_id"] == SPACE
    assert name in {c["name"] for c in fake_client.list_collections()}
    code, details = code_of(lambda: fake_client.create_collection(name))
    assert code == grpc.StatusCode.ALREADY_EXISTS, details
    fake_client.delete_collection(name)
    assert name not in {c["name"] for c in fake_client.list_collections()}
    assert code_of(lambda: fake_client.delete_collection(name))[0] == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: fake_client.get_collection(name))[0] == grpc.StatusCode.NOT_FOUND


def test_add_get_search_delete_every_payload_kind(fake_client):
    vec = fake_client.embed_text(["a precomputed vector about shipping"]).vectors[0]
    name = fresh(fake_client, items=[
        Item.text("refund", "refunds reach your card within seven days", {"category": "returns"}),
        Item.text("router", "restart the router with the reset button", {"category": "internet"}),
        Item.image("red", png((220, 20, 20)), {"color": "red"}),
        Item.speech("spoken", said("where is my parcel")),
        Item.vector("vec", vec, {"source": "client"}),
    ])
    assert fake_client.get_collection(name)["item_count"] == 5
    items, missing = fake_client.get_items(name, ["refund", "spoken", "nope", "vec"], include_vectors=True)
    assert [i["id"] for i in items] == ["refund", "spoken", "vec"] and missing == ["nope"]
    assert items[0]["metadata"] == {"category": "returns"} and items[0]["modality"] == "text"
    assert items[1]["text"] == "where is my parcel" and items[1]["modality"] == "speech"  # the transcript is stored
    assert np.allclose(items[2]["vector"], vec, atol=1e-6) and items[2]["modality"] == "vector"

    hits = fake_client.search_text(name, "when do refunds reach my card", top_k=2).hits
    assert hits[0].id == "refund" and hits[0].metadata == {"category": "returns"}
    assert hits[0].text.startswith("refunds") and hits[0].score >= hits[1].score
    assert fake_client.search_text(name, "my parcel", top_k=1).hits[0].id == "spoken"
    assert fake_client.search_text(name, "red", top_k=1).hits[0].id == "red"
    only_images = fake_client.search_text(name, "router", top_k=5, modalities=["image"]).hits
    assert [h.id for h in only_images] == ["red"] and only_images[0].modality == "image"
    same = fake_client.search_image(name, png((220, 20, 20)), top_k=1).hits
    assert same[0].id == "red" and same[0].score > 0.99
    near = fake_client.search_vector(name, vec, top_k=1, space_id=SPACE).hits
    assert near[0].id == "vec" and near[0].score > 0.99

    deleted, missing = fake_client.delete_items(name, ["refund", "ghost"])
    assert deleted == 1 and missing == ["ghost"]
    assert "refund" not in [h.id for h in fake_client.search_text(name, "refunds card", top_k=10).hits]
    assert fake_client.get_collection(name)["item_count"] == 4


def test_upsert_replaces_and_adds(fake_client):
    name = fresh(fake_client, items=[Item.text("a", "alpha apples"), Item.text("b", "beta bananas")])
    assert fake_client.upsert_items(name, [Item.text("a", "gamma grapes", {"v": "2"}), Item.text("c", "delta dates")]) == (2, 1)
    items, _ = fake_client.get_items(name, ["a", "c"])
    assert [(i["id"], i["text"], i["metadata"]) for i in items] == [("a", "gamma grapes", {"v": "2"}), ("c", "delta dates", {})]
    assert fake_client.search_text(name, "gamma grapes", top_k=1).hits[0].id == "a"
    assert fake_client.search_text(name, "alpha apples", top_k=1).hits[0].id != "a"
    assert fake_client.get_collection(name)["item_count"] == 3


def test_metadata_filters_take_the_top_k_among_matching_items(fake_client):
    sizes = ["S", "M", "L"]
    name = fresh(fake_client, items=[Item.text(f"i{n}", f"shirt number {n}", {"size": sizes[n % 3], "color": "red" if n < 6 else "blue"})
                                     for n in range(12)])
    hits = fake_client.search_text(name, "shirt", top_k=10, where={"size": "M"}).hits
    assert sorted(h.id for h in hits) == ["i1", "i10", "i4", "i7"]
    hits = fake_client.search_text(name, "shirt", top_k=10, where={"size": ["S", "L"], "color": "red"}).hits
    assert sorted(h.id for h in hits) == ["i0", "i2", "i3", "i5"]
    assert fake_client.search_text(name, "shirt", top_k=10, where={"size": "XL"}).hits == []
    assert all(h.metadata["color"] == "blue" for h in fake_client.search_text(name, "shirt", where={"color": "blue"}).hits)


def test_more_like_this_and_top_k_beyond_the_collection(fake_client):
    name = fresh(fake_client, items=[Item.text("a", "green tea"), Item.text("b", "green tea with milk"), Item.text("c", "router")])
    assert [h.id for h in fake_client.search_like(name, "a", top_k=1).hits] == ["b"]
    assert len(fake_client.search_text(name, "tea", top_k=1000).hits) == 3


def test_a_vector_from_another_space_is_refused(fake_client):
    name = fresh(fake_client, items=[Item.text("a", "alpha")])
    code, details = code_of(lambda: fake_client.search_vector(name, np.ones(DIM), space_id="embedded/zero-shot-v0"))
    assert code == grpc.StatusCode.FAILED_PRECONDITION and "space" in details


# -- search by speech: the transcript, sound-alike ranking and re-ranking --------------------------------------

UTTERANCES = [
    ("sat", "the cat sat on the mat"),
    ("sad", "the cat sad on the mat"),
    ("dog", "the dog sat on the mat"),
    ("hours", "what time does the store open"),
    ("reset", "how do I reset my router"),
]
ANSWERS = [
    ("returns-window", "You can return most items within 30 days of delivery for a full refund."),
    ("store-hours", "Our stores are open from 9am to 8pm Monday to Saturday."),
    ("router-reset", "Hold the reset button on the back of the router for ten seconds."),
]
MISHEARD = said("the cat sat on the mat", heard="the cat sad on the mat")


def texts(client, items, prefix="sp") -> str:
    """A fresh collection of text items from (id, text) or (id, text, metadata) tuples."""
    return fresh(client, prefix, [Item.text(*item) for item in items])


def test_default_reranking_puts_the_text_said_before_the_one_misheard(fake_client):
    name = texts(fake_client, UTTERANCES + ANSWERS)
    plain = fake_client.search_speech(name, MISHEARD, top_k=5, rerank=0)
    assert plain.transcript == "the cat sad on the mat" and plain.hits[0].id == "sad"
    assert plain.transcript_logprob is None and all(h.transcript_logprob is None for h in plain.hits)
    default = fake_client.search_speech(name, MISHEARD, top_k=5)  # rerank unset: the server's depth
    assert default.hits[0].id == "sat" and default.hits[0].transcript_logprob == 0.0
    gate = fake_client.info().rerank_gate
    heard = default.transcript_logprob
    assert heard is not None and heard < 0
    inside = [h for h in default.hits if h.transcript_logprob is not None and h.transcript_logprob >= heard - gate]
    assert [h.id for h in inside][:3] == ["sat", "sad", "dog"] and default.hits[: len(inside)] == inside
    explicit = fake_client.search_speech(name, MISHEARD, top_k=5, rerank=fake_client.info().rerank_candidates)
    assert [(h.id, h.transcript_logprob) for h in explicit.hits] == [(h.id, h.transcript_logprob) for h in default.hits]


def test_a_gallery_of_answers_keeps_its_order(fake_client):
    name = texts(fake_client, ANSWERS)
    question = said("how long do I have to return an item")
    plain = fake_client.search_speech(name, question, top_k=3, rerank=0)
    ranked = fake_client.search_speech(name, question, top_k=3, rerank=3)
    assert [h.id for h in ranked.hits] == [h.id for h in plain.hits] and ranked.hits[0].id == "returns-window"
    gate = fake_client.info().rerank_gate
    assert all(h.transcript_logprob is not None and h.transcript_logprob < ranked.transcript_logprob - gate
               for h in ranked.hits)  # scored, and never said


def test_nothing_to_score_leaves_the_search_as_it_was(fake_client):
    name = fresh(fake_client, items=[Item.image("img", png((200, 30, 30))), Item.vector("vec", [1.0] + [0.0] * (DIM - 1))])
    result = fake_client.search_speech(name, MISHEARD, top_k=5, rerank=5)
    assert {h.id for h in result.hits} == {"img", "vec"} and result.transcript_logprob is None
    assert [h.id for h in result.hits] == [h.id for h in fake_client.search_speech(name, MISHEARD, top_k=5, rerank=0).hits]


def test_texts_that_sound_like_the_transcript_are_scored_beyond_the_window(fake_client):
    calls = [("c-" + n, f"please call {n}") for n in ("anna", "bob", "carl", "dora", "eve", "fred", "gina")]
    name = texts(fake_client, calls + [("smyth", "call jon smyth")])
    audio = said("call jon smyth", heard="call john smith")
    alone = fake_client.search_speech(name, audio, top_k=3, rerank=1, sound_alike=0, sound_alike_weight=0)
    assert [h.id for h in alone.hits if h.transcript_logprob is not None] == [alone.hits[0].id]
    found = fake_client.search_speech(name, audio, top_k=3, rerank=1, sound_alike_weight=0)
    assert found.hits[0].id == "smyth" and found.hits[0].transcript_logprob == 0.0


def test_sound_alike_candidates_honour_filters_and_deletes(fake_client):
    name = texts(fake_client, [(i, t, {"lang": "fr" if i == "sat" else "en"}) for i, t in UTTERANCES])
    filtered = fake_client.search_speech(name, MISHEARD, top_k=3, rerank=1, where={"lang": "en"})
    assert "sat" not in [h.id for h in filtered.hits] and len(filtered.hits) == 3
    assert fake_client.search_speech(name, MISHEARD, top_k=3, rerank=1).hits[0].id == "sat"
    fake_client.delete_items(name, ["sat"])
    after = fake_client.search_speech(name, MISHEARD, top_k=3, rerank=1)
    assert "sat" not in [h.id for h in after.hits] and len(after.hits) == 3
    fake_client.add_items(name, [Item.text("sat-again", "the cat sat on the mat")])
    # A new item is found by the vector search at once (the sound-alike index may lag), then re-ranked first.
    assert fake_client.search_speech(name, MISHEARD, top_k=3, rerank=3).hits[0].id == "sat-again"


def test_speech_hits_are_ranked_by_score_plus_the_weighted_sound_alike_similarity(fake_client):
    weight = fake_client.info().sound_alike_weight
    name = texts(fake_client, UTTERANCES + ANSWERS)
    fake_client.add_items(name, [Item.vector("vec", [1.0] + [0.0] * (DIM - 1))])
    result = fake_client.search_speech(name, MISHEARD, top_k=9, rerank=0)
    by_id = {h.id: h for h in result.hits}
    assert by_id["vec"].sound_alike is None and by_id["sad"].sound_alike == pytest.approx(1.0, abs=1e-3)
    ranked = [h.score + weight * (h.sound_alike or 0.0) for h in result.hits]
    assert ranked == sorted(ranked, reverse=True)
    plain = fake_client.search_speech(name, MISHEARD, top_k=9, sound_alike_weight=0, rerank=0)
    assert all(h.sound_alike is None for h in plain.hits)
    assert [h.score for h in plain.hits] == sorted((h.score for h in plain.hits), reverse=True)


def test_speech_items_are_found_by_their_transcript(fake_client):
    name = fresh(fake_client, items=[Item.speech("s1", said("turn on the lights")), Item.speech("s2", said("play some music"))])
    assert fake_client.search_speech(name, said("play some music"), top_k=1).hits[0].id == "s2"
    assert fake_client.search_text(name, "lights", top_k=1).hits[0].id == "s1"


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(rerank=65), "rerank.candidates=65"),
    (dict(rerank=5, sound_alike=65), "rerank.sound_alike=65"),
    (dict(mode="direct"), "not available"),
    (dict(sound_alike_weight=11), "sound_alike_weight=11"),
    (dict(sound_alike_weight=float("nan")), "sound_alike_weight=nan"),
    (dict(sound_alike_weight=-1), "sound_alike_weight=-1"),
])
def test_bad_speech_search_options(fake_client, kwargs, phrase):
    name = texts(fake_client, UTTERANCES[:2])
    code, details = code_of(lambda: fake_client.search_speech(name, MISHEARD, **kwargs))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and phrase in details, details


def test_sound_alike_candidates_need_an_explicit_rerank(fake_client):
    name = texts(fake_client, UTTERANCES[:2])
    with pytest.raises(ValueError, match="explicit rerank"):  # the client refuses extras without a depth
        fake_client.search_speech(name, MISHEARD, sound_alike=3)


# -- bad input: the right status, nothing written, the server stays up ------------------------------------------

@pytest.mark.parametrize("case, expected_code, phrase", CASES + [
    ("short_audio", grpc.StatusCode.INVALID_ARGUMENT, "shorter"),
    ("long_text", grpc.StatusCode.INVALID_ARGUMENT, "characters"),
])
def test_bad_input_gets_a_clear_status_and_writes_nothing(fake_client, case, expected_code, phrase):
    name = fresh(fake_client, "bad", [Item.text("taken", "an existing item")])
    bad = calls(fake_client, name, DIM, lambda: fake_client.search_speech(name, MISHEARD, direct_weight=1.5))
    bad["short_audio"] = lambda: fake_client.add_items(name, [Item.text("good", "a perfectly fine item"), Item.speech(
        "s", b"\0\0" * 100, pcm_sample_rate=16000)])
    bad["long_text"] = lambda: fake_client.embed_text(["x" * 10_001])
    check_refused(fake_client, name, bad[case], expected_code, phrase)


@pytest.mark.parametrize("bad, label", [
    (Item.image("photo-7", b"not an image"), "photo-7"),
    (Item.speech("clip-3", b"not audio at all, not even close"), "clip-3"),
    (Item.text("note-2", ""), "note-2"),
])
def test_a_bad_item_is_named_by_position_and_id(fake_client, bad, label):
    name = fresh(fake_client, "bad")
    code, details = code_of(lambda: fake_client.add_items(name, [Item.text("ok", "fine"), bad]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "items[1]" in details and label in details, details
    assert fake_client.get_collection(name)["item_count"] == 0


def test_a_bad_query_among_embeddings_is_named(fake_client):
    code, details = code_of(lambda: fake_client.embed_image([png((1, 1, 1)), b"garbage"]))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "[1]" in details, details
