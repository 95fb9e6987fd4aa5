"""Whisper decoder adapters (align/asr_adapt.py) on a tiny Whisper of random weights: what is trained is
what is served once merged, adapters start as the identity, and the batch layout is the one hand-written."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from xmodal_server.align import asr_adapt as A
from xmodal_server.encoders.finetune import merge_low_rank


@pytest.fixture()
def tiny_whisper():
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    torch.manual_seed(0)
    cfg = WhisperConfig(vocab_size=60, num_mel_bins=8, d_model=16, encoder_layers=1, decoder_layers=2,
                        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
                        max_source_positions=12, max_target_positions=16, decoder_start_token_id=1,
                        pad_token_id=0, bos_token_id=0, eos_token_id=0,
                        init_std=0.5)  # the default 0.02 gives tied logits too small to learn within a few steps
    return WhisperForConditionalGeneration(cfg).eval()


def _run(model, ids, hidden):
    with torch.no_grad():
        return model.model.decoder(input_ids=ids, encoder_hidden_states=hidden).last_hidden_state


def _inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randint(0, 60, (3, 5), generator=g), torch.randn(3, 12, 16, generator=g)


def test_fresh_adapters_leave_the_decoder_unchanged(tiny_whisper):
    ids, hidden = _inputs()
    before = _run(tiny_whisper, ids, hidden)
    adapters = A.attach(tiny_whisper, rank=4, alpha=8)
    assert len(adapters) == 2 * len(A.TARGETS)
    torch.testing.assert_close(_run(tiny_whisper, ids, hidden), before)
    assert all(not p.requires_grad for m in adapters.values() for p in m.base.parameters())


def test_merged_adapters_compute_what_was_trained(tiny_whisper):
    ids, hidden = _inputs()
    served = copy.deepcopy(tiny_whisper)
    adapters = A.attach(tiny_whisper, rank=4, alpha=8)
    with torch.no_grad():
        for m in adapters.values():
            m.b.normal_(0, 0.1)
    trained = _run(tiny_whisper, ids, hidden)
    assert not torch.allclose(trained, _run(served, ids, hidden))
    originals = merge_low_rank(served, A.export(adapters), "test")
    assert sorted(originals) == sorted(adapters)
    torch.testing.assert_close(_run(served, ids, hidden), trained, rtol=1e-4, atol=1e-5)
    A.detach(tiny_whisper, adapters)
    assert isinstance(tiny_whisper.model.decoder.layers[0].fc1, torch.nn.Linear)


def test_merge_rejects_adapters_that_do_not_fit_and_changes_nothing(tiny_whisper):
    state = A.export(A.attach(copy.deepcopy(tiny_whisper), rank=4, alpha=8))
    before = {k: v.clone() for k, v in tiny_whisper.state_dict().items()}
    fc1 = "model.decoder.layers.0.fc1"
    with pytest.raises(ValueError, match="no such layer"):
        merge_low_rank(tiny_whisper, {"model.decoder.layers.9.fc1.lora_a": np.zeros((4, 16)),
                                      "model.decoder.layers.9.fc1.lora_b": np.zeros((32, 4))}, "ckpt-x")
    with pytest.raises(ValueError, match="ckpt-x.*do not fit"):
        merge_low_rank(tiny_whisper, {**state, f"{fc1}.lora_b": np.zeros((16, 4))}, "ckpt-x")
    with pytest.raises(ValueError, match="needs exactly"):
        merge_low_rank(tiny_whisper, {f"{fc1}.lora_a": state[f"{fc1}.lora_a"]}, "ckpt-x")
    for k, v in tiny_whisper.state_dict().items():  # a bad adapter anywhere: no layer changed
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_teacher_forced_batch_by_hand():
    ids, labels = A.teacher_forced_batch([[7, 8, 9], [5]], sot=(1, 2), eot=0)
    # rows: 1 2 7 8 9 0 and 1 2 5 0 -> inputs drop the last token; labels are the next token after the prompt
    assert ids.tolist() == [[1, 2, 7, 8, 9], [1, 2, 5, 0, 0]]
    assert labels.tolist() == [[-100, 7, 8, 9, 0], [-100, 5, 0, -100, -100]]


def test_a_few_steps_learn_a_transcript(tiny_whisper):
    """The training step of the trial and of ``xmodal align --adapt-asr`` on one fixed pair: the loss falls."""
    dec = tiny_whisper.model.decoder
    adapters = A.attach(tiny_whisper, rank=4, alpha=8)
    opt = torch.optim.AdamW([p for m in adapters.values() for p in (m.a, m.b)], lr=5e-2)
    ids, labels = A.teacher_forced_batch([[7, 8, 9, 10]], sot=(1, 2), eot=0)
    hidden = torch.randn(1, 12, 16, generator=torch.Generator().manual_seed(2))
    losses = []
    for _ in range(30):
        logits = tiny_whisper.proj_out(dec(input_ids=ids, encoder_hidden_states=hidden).last_hidden_state)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
