"""Adapting the transcript path of the speech model to synthetic voices: low-rank adapters (LoRA, Hu et al.
2021) on Whisper's decoder, trained on the training clips' true transcripts with the encoder frozen.

Why the decoder and why low rank: the fused speech search is capped by what Whisper tiny.en hears (word error
rate ~0.34 on the held-out robotic voices, where the true transcript would give R@1 1.0). With the encoder
frozen its output is computed once per clip and cached (``StateCache``), so an epoch costs only decoder passes.
The states are those the server computes: each clip encoded over its own length (``whisper_passes.py``), a
window the pretrained decoder never saw (it repeats its transcript instead of ending it); the adapters learn to
end it. Low-rank updates keep the
change small (a few hundred thousand numbers, shipped in the checkpoint) and the pretrained decoder intact
under them, which is what guards the real human voices the adapters never hear.

Adapted: every linear layer of the decoder except the cross-attention keys and values, which see every
encoder frame: leaving them frozen means a training step never keeps those products for the backward pass.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..encoders.finetune import LOW_RANK_A, LOW_RANK_B

TARGETS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
           "encoder_attn.q_proj", "encoder_attn.out_proj", "fc1", "fc2")
DECODER = "model.decoder"  # where the decoder sits in WhisperForConditionalGeneration


class LoRALinear(nn.Module):
    """``base(x) + scale · B(A(x))`` with ``base`` frozen; B starts at zero, so training starts from the
    pretrained function exactly."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, generator: torch.Generator) -> None:
        super().__init__()
        self.base, self.scale = base, alpha / rank
        for p in base.parameters():
            p.requires_grad_(False)
        self.a = nn.Parameter(torch.randn(rank, base.in_features, generator=generator) / math.sqrt(base.in_features))
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + F.linear(F.linear(x, self.a), self.b) * self.scale


def attach(model: nn.Module, rank: int, alpha: float, seed: int = 0) -> dict[str, LoRALinear]:
    """Wrap the decoder's target linears of a Whisper ``model`` in place; returns them by their names in the
    model (``model.decoder.layers.0.self_attn.q_proj``), the names the checkpoint stores."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for i, layer in enumerate(model.get_submodule(DECODER).layers):
        for target in TARGETS:
            parent, attr = _parent(layer, target)
            wrapped = LoRALinear(getattr(parent, attr), rank, alpha, gen)
            setattr(parent, attr, wrapped)
            out[f"{DECODER}.layers.{i}.{target}"] = wrapped
    return out


def detach(model: nn.Module, adapters: Mapping[str, LoRALinear]) -> None:
    """Undo ``attach``: the frozen base linears back in place."""
    for name, wrapped in adapters.items():
        parent, attr = _parent(model, name)
        setattr(parent, attr, wrapped.base)


def export(adapters: Mapping[str, LoRALinear]) -> dict[str, np.ndarray]:
    """The checkpoint's form (``finetune.merge_low_rank`` serves it): A, and B times the scale."""
    out = {}
    for name, m in adapters.items():
        out[f"{name}.{LOW_RANK_A}"] = m.a.detach().cpu().numpy().astype(np.float32)
        out[f"{name}.{LOW_RANK_B}"] = (m.b.detach() * m.scale).cpu().numpy().astype(np.float32)
    return out


def _parent(root: nn.Module, dotted: str) -> tuple[nn.Module, str]:
    parent, _, attr = dotted.rpartition(".")
    return (root.get_submodule(parent) if parent else root), attr


def teacher_forced_batch(token_lists: Sequence[Sequence[int]], sot: Sequence[int], eot: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) for next-token training: each row ``sot + tokens + [eot]``, right-padded with EOT
    (causal attention: padding never reaches earlier positions); labels -100 where nothing is learned: the
    prompt's own tokens and the padding."""
    seqs = [[*sot, *t, eot] for t in token_lists]
    length = max(map(len, seqs)) - 1
    ids = torch.full((len(seqs), length), eot, dtype=torch.long)
    labels = torch.full((len(seqs), length), -100, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s) - 1] = torch.tensor(s[:-1])
        labels[i, len(sot) - 1 : len(s) - 1] = torch.tensor(s[len(sot):])
    return ids, labels


def batches(lengths: Sequence[int], size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled batches of clip indices, each of clips encoded over the same number of frames (so a batch is
    one dense tensor with no padding the decoder could attend to), in shuffled order."""
    out = []
    for length in sorted(set(lengths)):
        same = rng.permutation([i for i, n in enumerate(lengths) if n == length])
        out += [np.sort(same[i : i + size]) for i in range(0, len(same), size)]
    return [out[i] for i in rng.permutation(len(out))]


def train(encoder, states: Sequence[np.ndarray], texts: Sequence[str], epochs: int, rank: int = 8, alpha: float = 16.0,
          lr: float = 1e-3, batch: int = 16, seed: int = 0, after_epoch=None) -> dict[str, LoRALinear]:
    """Train adapters on the decoder of ``encoder`` (a ``WhisperTinyEncoder``) to write ``texts`` given the
    cached encoder ``states`` (per clip: its frames x d); teacher-forced cross-entropy over each transcript and its end,
    with the token filters decoding applies. Leaves the adapters attached (``detach`` or ``export`` + ``merge``
    after) and returns them. ``after_epoch(epoch, mean loss)`` runs after each epoch (validation)."""
    from tqdm import tqdm

    from ..encoders.whisper_ct2 import EOT, NO_TIMESTAMPS, SOT

    torch.manual_seed(seed)
    dec = encoder.model.model.decoder
    adapters = attach(encoder.model, rank, alpha, seed)
    params = [p for m in adapters.values() for p in (m.a, m.b)]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    tokens = encoder.text_tokens(texts)
    rng = np.random.default_rng(seed)
    for epoch in range(1, epochs + 1):
        losses = []
        for rows in tqdm(batches([len(st) for st in states], batch, rng), desc=f"decoder adapters, epoch {epoch}/{epochs}", unit="batch"):
            ids, labels = teacher_forced_batch([tokens[i] for i in rows], (SOT, NO_TIMESTAMPS), EOT)
            # A label decoding can never produce (a suppressed symbol such as "-") teaches nothing usable, and
            # against a masked logit its loss would only push every other token down: not learned.
            labels = labels.masked_fill(encoder.suppress.cpu()[labels.clamp(min=0)] & (labels >= 0), -100)
            hidden = torch.from_numpy(np.stack([states[i] for i in rows]).astype(np.float32)).to(encoder.device)
            out = dec(input_ids=ids.to(encoder.device), encoder_hidden_states=hidden).last_hidden_state
            # The distribution decoding samples from: suppressed tokens masked (large negative, not -inf, which
            # would make the masked entries' zero gradient NaN).
            logits = encoder.model.proj_out(out).float().masked_fill(encoder.suppress, -1e4)
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten().to(encoder.device), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        if after_epoch is not None:
            with torch.no_grad():
                after_epoch(epoch, float(np.mean(losses)))
    return adapters
