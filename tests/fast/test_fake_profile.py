"""The fake encoder profile itself (encoders/fake.py, tests only): its rules hold through the server's media
decoders, ``xmodal serve --profile fake`` runs as a process, and a checkpoint with trained-style heads (every
speech mode) plus a reindex across checkpoints work with it. Milliseconds to a few seconds each."""
from __future__ import annotations

import json
import signal
import sys

import grpc
import numpy as np
import pytest
from safetensors.numpy import save_file

from conftest import ServerThread, fake_config
from processes import serving
from xmodal import Client, Item, XmodalClientError
from xmodal_server.encoders import fake
from xmodal_server.encoders.registry import PROFILES, EncoderSpec, build
from xmodal_server.media import MediaLimits, decode_audio, decode_pcm_s16le

MISHEARD = fake.synthesize("the cat sat on the mat", heard="the cat sad on the mat")


# -- the encoders ------------------------------------------------------------------------------------------

def test_the_profile_builds_through_the_registry():
    encoders = {m: build(EncoderSpec(name, None)) for m, name in PROFILES["fake"].items()}
    assert {m: e.info.name for m, e in encoders.items()} == {"text": "fake-text", "image": "fake-image", "speech": "fake-speech"}
    assert all("tests only" in e.info.architecture for e in encoders.values())


@pytest.mark.parametrize("carry", ["pcm", "wav"])
def test_speech_survives_the_servers_audio_decoders(carry):
    limits = MediaLimits()
    wave = (decode_pcm_s16le(fake.pcm16(MISHEARD), 16000, limits) if carry == "pcm"
            else decode_audio(fake.wav(MISHEARD), limits))
    out = fake.FakeSpeechEncoder().encode([wave, fake.synthesize("héllo wörld")], transcribe=True, keep_state=True)
    assert out.transcripts == ["the cat sad on the mat", "héllo wörld"]
    assert out.states == ["the cat sat on the mat", "héllo wörld"]


def test_any_audio_gets_a_deterministic_transcript_and_silence_none():
    enc = fake.FakeSpeechEncoder()
    noise = np.random.default_rng(0).uniform(-1, 1, 16000).astype(np.float32)
    a, b = (enc.encode([noise, np.zeros(4000, np.float32)], transcribe=True) for _ in range(2))
    assert a.transcripts == b.transcripts and a.transcripts[1] == "" and np.array_equal(a.features, b.features)


def test_transcript_logprobs_prefer_what_was_said():
    enc = fake.FakeSpeechEncoder()
    texts = ["the cat sat on the mat", "the cat sad on the mat", "the dog sat on the mat", "what time does the store open"]
    lp = enc.transcript_logprobs(MISHEARD, texts)
    assert lp[0] == 0.0 and lp[0] > lp[1] > lp[2] > lp[3]
    assert lp[2] >= lp[1] - enc.rerank_gate > lp[3]  # a sound-alike passes the gate against the transcript, an unrelated text not
    state = enc.encode([MISHEARD], keep_state=True).states[0]
    assert np.array_equal(enc.transcript_logprobs(MISHEARD, texts, state), lp)


def test_text_features_are_deterministic_and_truncation_is_reported():
    enc = fake.FakeTextEncoder()
    words = " ".join(f"w{i}" for i in range(fake.TEXT_MAX_TOKENS))
    a = enc.encode(["Red apple!", words])
    b = enc.encode(["red   APPLE !"])
    assert np.array_equal(a.features[0], b.features[0])  # lower-cased words and marks, spacing ignored
    assert a.truncated == [False, True] and enc.count_tokens("Red apple!") == 5
    assert np.all(np.linalg.norm(enc.encode(["."]).features, axis=1) > 0)


# -- the process -------------------------------------------------------------------------------------------

def test_xmodal_serve_profile_fake_serves_and_stops_on_sigterm(tmp_path):
    with serving([sys.executable, "-m", "xmodal.cli", "serve", "--profile", "fake", "--port", "0", "--metrics-port",
                  "-1", "--data-dir", str(tmp_path)]) as (proc, address, log):
        assert "profile fake" in "".join(log)
        with Client(address, timeout=30) as c:
            assert c.info().profile == "fake"
            assert c.embed_speech([fake.wav(MISHEARD)]).transcripts == ["the cat sad on the mat"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0


# -- a checkpoint with trained-style heads, and reindex ----------------------------------------------------

def fused_checkpoint(path) -> str:
    """Heads a training run could have written for the fake profile: the speech features pass through an
    identity layer (direct mode = the vector of the text said), fused with the transcript's by default."""
    rng = np.random.default_rng(0)
    path.mkdir()
    save_file({
        "image.l0.weight": rng.standard_normal((fake.DIM, fake.IMAGE_FEATURE_DIM)).astype(np.float32) * 0.1,
        "image.l0.bias": np.zeros(fake.DIM, np.float32),
        "speech.l0.weight": np.eye(fake.DIM, dtype=np.float32),
        "speech.l0.bias": np.zeros(fake.DIM, np.float32),
    }, str(path / "heads.safetensors"))
    (path / "manifest.json").write_text(json.dumps({
        "format": 1, "id": "fake-fused", "aligned": True, "note": "made by a test for the fake profile",
        "heads": {"text": {"type": "identity"}, "image": {"type": "mlp", "conse_weight": 0.2},
                  "speech": {"type": "fused", "direct_weight": 0.5, "default_mode": "fused"}},
    }))
    return str(path)


def test_every_speech_mode_and_a_reindex_across_checkpoints(tmp_path):
    from xmodal.v1 import common_pb2

    data = tmp_path / "data"
    first = ServerThread(fake_config(data)).start(timeout=120)
    try:
        with Client(first.address, timeout=30) as c:
            c.create_collection("mixed")
            c.add_items("mixed", [Item.text("sat", "the cat sat on the mat", {"k": "v"}),
                                  Item.text("sad", "the cat sad on the mat"),
                                  Item.speech("spoken", fake.wav(fake.synthesize("play some music")))])
    finally:
        first.stop()

    second = ServerThread(fake_config(data, checkpoint=fused_checkpoint(tmp_path / "ck"))).start(timeout=120)
    try:
        with Client(second.address, timeout=30) as c:
            assert list(c.info().speech_modes) == [common_pb2.SPEECH_MODE_FUSED, common_pb2.SPEECH_MODE_DIRECT,
                                                   common_pb2.SPEECH_MODE_TRANSCRIBE]
            with pytest.raises(XmodalClientError) as e:
                c.search_text("mixed", "cat")
            assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION and "reindex" in e.value.details
            info, n = c.reindex_collection("mixed")
            assert n == 3 and info["space_id"] == "fake/fake-fused" and info["item_count"] == 3
            items, _ = c.get_items("mixed", ["spoken"])
            assert items[0]["text"] == "play some music"  # transcribed again from the stored audio

            audio = fake.wav(MISHEARD)
            # DIRECT embeds what was said (the identity head over the said text's features), no transcript.
            direct = c.search_speech("mixed", audio, top_k=2, mode="direct")
            assert direct.hits[0].id == "sat" and direct.transcript_logprob is None
            assert all(h.sound_alike is None for h in direct.hits)  # no transcript: no sound-alike ranking
            transcribed = c.search_speech("mixed", audio, top_k=2, mode="transcribe", rerank=0, sound_alike_weight=0)
            assert transcribed.hits[0].id == "sad"
            fused = c.search_speech("mixed", audio, top_k=2)  # the default mode, default re-ranking
            assert fused.hits[0].id == "sat" and fused.transcript_logprob is not None
            [v_direct, v_one] = [c.embed_speech([audio], mode=m, direct_weight=w).vectors[0]
                                 for m, w in (("direct", None), ("fused", 1.0))]
            assert np.allclose(v_direct, v_one, atol=1e-5)
            for kwargs, phrase in ((dict(mode="direct", rerank=3), "transcript"),
                                   (dict(mode="direct", sound_alike_weight=0.5), "transcript")):
                with pytest.raises(XmodalClientError) as e:
                    c.search_speech("mixed", audio, **kwargs)
                assert e.value.code == grpc.StatusCode.INVALID_ARGUMENT and phrase in e.value.details
    finally:
        second.stop()
