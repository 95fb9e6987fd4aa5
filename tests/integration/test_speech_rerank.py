"""SearchBySpeech re-ranking (SpeechRerank) against the real server: Whisper scores hit texts against the audio."""
from __future__ import annotations

import io
import uuid

import grpc
import pytest
from PIL import Image

from xmodal import Item, XmodalClientError
from xmodal_server.config import Config

pytestmark = pytest.mark.slow

SAID = "how long do I have to return an item"  # what speech_wav says (tests/conftest.py)
UTTERANCES = [
    ("said", SAID),
    ("gift", "how long do I have to return a gift"),
    ("exchange", "how long do I have to exchange an item"),
    ("refund", "how long does a refund take"),
    ("hours", "what time does the store open"),
    ("reset", "how do I reset my router"),
]
ANSWERS = [
    ("returns-window", "You can return most items within 30 days of delivery for a full refund."),
    ("refund-time", "Refunds reach your account within five business days."),
    ("store-hours", "Our stores are open from 9am to 8pm Monday to Saturday."),
    ("router-reset", "Hold the reset button on the back of the router for ten seconds."),
]


def collection(client, items) -> str:
    name = f"rr-{uuid.uuid4().hex[:8]}"
    client.create_collection(name)
    client.add_items(name, [Item.text(i, t) for i, t in items])
    return name


def test_info_reports_the_gate(client):
    info = client.info()
    assert info.HasField("rerank_gate") and 0 < info.rerank_gate < 5
    assert info.HasField("rerank_sound_alike") and info.rerank_sound_alike == 10  # Config.rerank_sound_alike
    assert info.rerank_candidates == Config().rerank_candidates > 0


def test_a_request_without_rerank_gets_the_servers_default_depth(client, speech_wav):
    depth = client.info().rerank_candidates
    name = collection(client, UTTERANCES + ANSWERS)
    default = client.search_speech(name, speech_wav, top_k=10)
    explicit = client.search_speech(name, speech_wav, top_k=10, rerank=depth)
    assert default.transcript_logprob is not None and default.hits[0].id == "said"
    assert [(h.id, h.transcript_logprob) for h in default.hits] == [(h.id, h.transcript_logprob) for h in explicit.hits]
    off = client.search_speech(name, speech_wav, top_k=10, rerank=0)
    assert off.transcript_logprob is None and all(h.transcript_logprob is None for h in off.hits)
    # DIRECT has no transcript: the default does not apply (an explicit rerank is INVALID_ARGUMENT, below).
    direct = client.search_speech(name, speech_wav, top_k=10, mode="direct")
    assert direct.transcript_logprob is None and all(h.transcript_logprob is None for h in direct.hits)
    with pytest.raises(ValueError, match="explicit rerank"):  # extras without a depth: the client says so
        client.search_speech(name, speech_wav, sound_alike=3)


def test_nothing_to_score_leaves_the_search_as_it_was(client, speech_wav):
    name = f"rr-{uuid.uuid4().hex[:8]}"
    client.create_collection(name)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buf, format="PNG")
    client.add_items(name, [Item.image("img", buf.getvalue()), Item.vector("vec", [1.0] + [0.0] * 383)])
    result = client.search_speech(name, speech_wav, top_k=5, rerank=5)
    assert {h.id for h in result.hits} == {"img", "vec"}
    assert result.transcript_logprob is None  # no text among the candidates: the decoder was not asked
    assert [h.id for h in result.hits] == [h.id for h in client.search_speech(name, speech_wav, top_k=5, rerank=0).hits]


def test_the_utterance_said_comes_first_and_the_gate_orders_the_hits(client, speech_wav):
    gate = client.info().rerank_gate
    name = collection(client, UTTERANCES + ANSWERS)
    result = client.search_speech(name, speech_wav, top_k=8, rerank=6)
    heard = result.transcript_logprob
    assert heard is not None and heard < 0
    assert result.hits[0].id == "said"
    scored = [h for h in result.hits if h.transcript_logprob is not None]
    assert len(scored) >= 6  # the best 6 hits are scored, and sound-alike ones beyond them
    # Gate-passing hits first, best explained first; every other hit after them.
    inside = [h for h in result.hits if h.transcript_logprob is not None and h.transcript_logprob >= heard - gate]
    assert inside and result.hits[: len(inside)] == inside
    assert [h.transcript_logprob for h in inside] == sorted((h.transcript_logprob for h in inside), reverse=True)
    assert next(h for h in result.hits if h.id == "said").transcript_logprob >= heard - gate


def test_a_gallery_of_answers_keeps_its_order(client, speech_wav):
    name = collection(client, ANSWERS)
    plain = client.search_speech(name, speech_wav, top_k=4, rerank=0)
    ranked = client.search_speech(name, speech_wav, top_k=4, rerank=4)
    assert [h.id for h in ranked.hits] == [h.id for h in plain.hits]
    assert ranked.hits[0].id == "returns-window"
    assert all(h.transcript_logprob < ranked.transcript_logprob - 0.5 for h in ranked.hits)  # never said


def test_texts_too_long_to_have_been_said_are_not_scored(client, speech_wav):
    long_answer = ("You can return most items within 30 days of delivery for a full refund; start the return from "
                   "your orders page, print the label, and drop the parcel at any post office near you.")
    name = collection(client, ANSWERS + [("long", long_answer)])
    plain = client.search_speech(name, speech_wav, top_k=5, rerank=0)
    ranked = client.search_speech(name, speech_wav, top_k=5, rerank=5)
    assert [h.id for h in ranked.hits] == [h.id for h in plain.hits]  # it could not have passed the gate anyway
    by_id = {h.id: h for h in ranked.hits}
    assert by_id["long"].transcript_logprob is None  # rerank.sayable: ~190 characters in a ~2.5 s clip
    assert all(by_id[i].transcript_logprob is not None for i, _ in ANSWERS)


def test_fewer_results_than_candidates_and_items_without_text(client, speech_wav):
    name = collection(client, UTTERANCES)
    client.add_items(name, [Item.vector("vec", [1.0] + [0.0] * 383)])
    result = client.search_speech(name, speech_wav, top_k=2, rerank=20)
    assert [h.id for h in result.hits][:1] == ["said"] and len(result.hits) == 2
    everything = client.search_speech(name, speech_wav, top_k=10, rerank=20)
    assert next(h for h in everything.hits if h.id == "vec").transcript_logprob is None  # no text to score


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(rerank=65), "rerank.candidates=65"),
    (dict(rerank=5, mode="direct"), "transcript"),
    (dict(rerank=5, sound_alike=65), "rerank.sound_alike=65"),
])
def test_bad_rerank_requests(client, speech_wav, kwargs, phrase):
    name = collection(client, UTTERANCES[:2])
    with pytest.raises(XmodalClientError) as e:
        client.search_speech(name, speech_wav, **kwargs)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and phrase in e.value.details, e.value.details
    assert client.health() == "SERVING"


# ---- sound-alike candidates (ranking/sound_alike.py; the server's rerank_sound_alike, 10 by default) -------------------

def test_texts_that_sound_like_the_transcript_are_scored_beyond_the_window(client, speech_wav):
    name = collection(client, UTTERANCES + ANSWERS)
    result = client.search_speech(name, speech_wav, top_k=10, rerank=1)
    assert result.hits[0].id == "said"
    scored = {h.id for h in result.hits if h.transcript_logprob is not None}
    # Only the first hit is in the re-ranking window; these two are scored because they sound like it.
    assert {"said", "gift", "exchange"} <= scored, scored
    alone = client.search_speech(name, speech_wav, top_k=10, rerank=1, sound_alike=0)  # per request: none
    assert [h.id for h in alone.hits if h.transcript_logprob is not None] == ["said"]
    assert [h.id for h in alone.hits] == [h.id for h in client.search_speech(name, speech_wav, top_k=10, rerank=0).hits]


def test_sound_alike_candidates_honour_filters_and_deletes(client, speech_wav):
    name = f"rr-{uuid.uuid4().hex[:8]}"
    client.create_collection(name)
    # "said" is the text the audio explains best: a sound-alike candidate that ignored the filter or the
    # delete would pass the gate and come first.
    client.add_items(name, [Item.text(i, t, {"lang": "fr" if i == "said" else "en"}) for i, t in UTTERANCES + ANSWERS])
    filtered = client.search_speech(name, speech_wav, top_k=3, rerank=1, where={"lang": "en"})
    assert "said" not in [h.id for h in filtered.hits] and len(filtered.hits) == 3
    assert client.search_speech(name, speech_wav, top_k=3, rerank=1).hits[0].id == "said"  # the index holds it
    client.delete_items(name, ["said"])
    after = client.search_speech(name, speech_wav, top_k=3, rerank=1)
    assert "said" not in [h.id for h in after.hits] and len(after.hits) == 3
    client.add_items(name, [Item.text("said-again", SAID)])
    found = client.search_speech(name, speech_wav, top_k=3, rerank=1)
    assert found.hits[0].id == "said-again"  # a new item is found by the search at once, stale index or not


# ---- sound-alike ranking of every SearchBySpeech (the server's sound_alike_weight, 0.6 by default) ----------

def test_speech_hits_are_ranked_by_score_plus_the_weighted_sound_alike_similarity(client, speech_wav):
    weight = client.info().sound_alike_weight
    assert weight == pytest.approx(0.6)  # Config.sound_alike_weight
    name = collection(client, UTTERANCES + ANSWERS)
    client.add_items(name, [Item.vector("vec", [1.0] + [0.0] * 383)])
    result = client.search_speech(name, speech_wav, top_k=11, rerank=0)  # the ranking before any re-ranking
    by_id = {h.id: h for h in result.hits}
    assert by_id["vec"].sound_alike is None  # no text to compare
    assert by_id["said"].sound_alike == pytest.approx(1.0, abs=1e-3)  # heard word for word
    assert all(0 <= h.sound_alike <= 1 + 1e-6 for h in result.hits if h.id != "vec")
    ranked = [h.score + weight * (h.sound_alike or 0.0) for h in result.hits]
    assert ranked == sorted(ranked, reverse=True)
    plain = client.search_speech(name, speech_wav, top_k=11, sound_alike_weight=0, rerank=0)
    assert all(h.sound_alike is None for h in plain.hits)
    assert [h.score for h in plain.hits] == sorted((h.score for h in plain.hits), reverse=True)
    heavy = client.search_speech(name, speech_wav, top_k=11, sound_alike_weight=10, rerank=0)
    assert [h.id for h in heavy.hits][:3] == [h.id for h in sorted(heavy.hits, key=lambda h: -(h.sound_alike or 0))][:3]


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(sound_alike_weight=11), "sound_alike_weight=11"),
    (dict(sound_alike_weight=float("nan")), "sound_alike_weight=nan"),
    (dict(sound_alike_weight=-1), "sound_alike_weight=-1"),
    (dict(sound_alike_weight=0.5, mode="direct"), "transcript"),
])
def test_bad_sound_alike_weights(client, speech_wav, kwargs, phrase):
    name = collection(client, UTTERANCES[:2])
    with pytest.raises(XmodalClientError) as e:
        client.search_speech(name, speech_wav, **kwargs)
    assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and phrase in e.value.details, e.value.details
    direct = client.search_speech(name, speech_wav, mode="direct")  # the default weight does not apply to DIRECT
    assert all(h.sound_alike is None for h in direct.hits)
