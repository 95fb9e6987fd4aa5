"""Speech–transcript data builders: TTS voices, synthesis, the clip cache, voice assignment, real recordings."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from xmodal_server.align import tts
from xmodal_server.align.real_speech import ALSA_SOUNDS, normalize_transcript, real_recordings

ENGINE_BINARY = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}


def _engines_installed() -> list[str]:
    return [e for e in tts.ENGINES if shutil.which(ENGINE_BINARY[e])]


@pytest.mark.parametrize("engine", tts.ENGINES)
def test_synthesize_one_voice_per_engine(engine):
    if shutil.which(ENGINE_BINARY[engine]) is None:
        pytest.skip(f"{engine} not installed")
    voices = [v for v in tts.available_voices() if v.engine == engine and not v.held_out]
    if not voices:
        pytest.skip(f"no {engine} voice installed")
    audio = tts.synthesize("Where is my order?", voices[0])
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert 0.3 <= len(audio) / tts.SAMPLE_RATE <= 5.0
    assert np.abs(audio).max() <= 1.0
    assert np.sqrt(np.mean(audio**2)) > 1e-3  # not silent


def test_voice_keys_unique_and_filesystem_safe():
    keys = [v.key for v in tts.VOICES]
    assert len(set(keys)) == len(keys)
    assert all(re.fullmatch(r"[A-Za-z0-9.+_-]+", k) for k in keys)
    assert tts.Voice("espeak-ng", "en-us+f3", 1.1, 60).key == "espeak-ng_en-us+f3_s1.10_p60"
    with pytest.raises(ValueError):
        tts.Voice("flite", "rms", pitch=40)  # pitch is espeak-ng only


def test_held_out_voices_are_other_speakers():
    train = tts.training_voices(tts.VOICES)
    held = tts.held_out_voices(tts.VOICES)
    assert len(train) >= 12 and len(held) >= 3
    for engine in tts.ENGINES:
        assert any(v.engine == engine for v in held), engine
    train_speakers = {(v.engine, v.name) for v in train}
    # espeak-ng: neither the full voice nor its variant (+f4, +m7) appears in training.
    train_variants = {v.name.split("+", 1)[1] for v in train if "+" in v.name}
    for v in held:
        assert (v.engine, v.name) not in train_speakers
        if "+" in v.name:
            assert v.name.split("+", 1)[1] not in train_variants
    available = tts.available_voices()
    for engine in {v.engine for v in available}:
        assert any(v.held_out and v.engine == engine for v in available), engine


def test_build_speech_set_caches(tmp_path, monkeypatch):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    voice = tts.Voice("espeak-ng", "en-us", 1.2, 50)
    sentences = [("s1", "hello there"), ("s2", "good morning"), ("s3", "hello there")]
    clips = tts.build_speech_set(sentences, [voice], tmp_path, workers=2, progress=False)
    assert [c.sentence_id for c in clips] == ["s1", "s2", "s3"]
    assert clips[0].path == clips[2].path  # same (voice, text): one file
    for c in clips:
        info = sf.info(c.path)
        assert (info.samplerate, info.channels, info.format, info.subtype) == (16000, 1, "FLAC", "PCM_16")
        assert c.voice == voice.key and not c.held_out_voice and c.load().dtype == np.float32
    assert not list(tmp_path.rglob(".*.tmp"))
    mtimes = {c.path: c.path.stat().st_mtime_ns for c in clips}

    def fail(text, voice):
        raise AssertionError("cached clip synthesized again")

    monkeypatch.setattr(tts, "synthesize", fail)
    monkeypatch.setattr(tts, "synthesize_many", fail)
    again = tts.build_speech_set(sentences, [voice], tmp_path, workers=2, progress=False)
    assert again == clips
    assert {c.path: c.path.stat().st_mtime_ns for c in again} == mtimes


def test_engine_failure_is_a_clear_error():
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    with pytest.raises(tts.TTSError, match="espeak-ng"):
        tts.synthesize("hello", tts.Voice("espeak-ng", "no-such-voice-xx"))
    if shutil.which("festival"):
        with pytest.raises(tts.TTSError, match="festival"):
            tts.synthesize("hello", tts.Voice("festival", "no_such_voice"))


def test_festival_batch_equals_single_calls():
    voices = [v for v in tts.available_voices() if v.engine == "festival"]
    if not voices:
        pytest.skip("festival not installed")
    texts = ['He said "hi" \\ twice.', "Caf\u00e9 at five o'clock"]
    batch = tts.synthesize_many(texts, voices[0])
    assert all(np.array_equal(a, tts.synthesize(t, voices[0])) for a, t in zip(batch, texts))


def test_assign_voices_deterministic_and_balanced():
    voices = tts.training_voices(tts.VOICES)
    ids = [f"q{i}" for i in range(200)]
    a = tts.assign_voices(ids, voices, per_sentence=3, seed=7)
    assert a == tts.assign_voices(ids, list(reversed(voices)), per_sentence=3, seed=7)
    assert a["q5"] == tts.assign_voices(["q5"], voices, 3, 7)["q5"]  # independent of the other sentences
    assert a != tts.assign_voices(ids, voices, per_sentence=3, seed=8)
    for picks in a.values():
        assert len(picks) == 3 and len(set(picks)) == 3
        assert {v.engine for v in picks} == set(tts.ENGINES)  # one voice per engine
    used = {v for picks in a.values() for v in picks}
    assert used == set(voices)  # many sentences x a few voices each, every voice used
    with pytest.raises(ValueError):
        tts.assign_voices(ids, voices, per_sentence=len(voices) + 1, seed=0)


def test_train_and_test_sets_use_disjoint_voices(tmp_path, monkeypatch):
    monkeypatch.setattr(tts, "synthesize_many", lambda texts, voice: [np.full(1600, 0.1, np.float32)] * len(texts))
    train, test = tts.build_train_test_sets(
        [("a", "one"), ("b", "two")], [("c", "three")], tmp_path, per_sentence=2,
        voices=tts.VOICES, progress=False)
    assert len(train) == 4 and not any(c.held_out_voice for c in train)
    held = [v.key for v in tts.held_out_voices(tts.available_voices())]
    assert [c.voice for c in test] == held and all(c.held_out_voice for c in test)


def test_normalize_transcript():
    assert normalize_transcript("<s> Ten of CLUBS, please!  </s>") == "ten of clubs please"
    assert normalize_transcript("Don't stop") == "don't stop"


@pytest.mark.skipif(not ALSA_SOUNDS.is_dir(), reason="alsa-utils not installed")
def test_real_recordings(tmp_path):
    recs = real_recordings(tmp_path)
    assert len(recs) >= 8
    assert len({p for p, _ in recs}) == len(recs)
    for path, text in recs:
        audio, sr = sf.read(path, dtype="float32")
        assert sr in (16000, 48000) and audio.ndim == 1 and len(audio) > sr // 2
        assert text and text == text.lower() and re.fullmatch(r"[a-z0-9' ]+", text)
    assert (Path("/usr/share/sounds/alsa/Front_Center.wav"), "front center") in recs
    assert not any("noise" in t for _, t in recs)
    assert real_recordings(tmp_path) == recs  # raw conversions reused
