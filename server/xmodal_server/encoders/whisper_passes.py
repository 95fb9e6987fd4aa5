"""Whisper's three passes, written out over a ``transformers`` Whisper model's weights: the encoder over the
audio that is there, batched greedy decoding with per-row stopping, and teacher-forced scoring of texts.

Why not the ``transformers`` modules' own forward: its encoder insists on 30 s of input (1,500 frames, ~10x
the work of a 3 s question), and its decoder spends ~17 ms a token on per-step bookkeeping where tiny.en's
arithmetic is about a millisecond. Here every clip is encoded over its own length rounded up to a whole
second (``encoder_frames``: whisper.cpp's ``audio_ctx``, with the positional embeddings cut to length), and
decoding keeps a preallocated key/value cache and masks each row's cross-attention to its clip's frames, so
clips of any lengths share one batch and each row's result is what it would be alone.

The decoder was trained on 30 s windows and, shown a short one, repeats its transcript instead of ending it
(17 of 35 clips): the checkpoint's decoder adapters are trained on these same trimmed encoder outputs
(``align/asr_adapt.py``), and each row's token budget is bounded by its clip's duration as a guard.
``tests/unit/test_whisper_passes.py`` checks every pass against the ``transformers`` modules.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from copy import deepcopy
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = 320  # hop 160 x conv2 stride 2: one encoder frame per 20 ms
FRAMES_PER_SECOND = SAMPLE_RATE // SAMPLES_PER_FRAME
# The encoder sees at least half a second past the audio (where the speech visibly ends), rounded up to a
# whole second: clips of similar length share a length, so a batch holds few distinct lengths.
TAIL_FRAMES = FRAMES_PER_SECOND // 2
BUCKET_FRAMES = FRAMES_PER_SECOND
# Token budget per clip: fast speech is ~5 tokens a second; a decoder still writing past twice that is looping.
TOKENS_PER_SECOND, TOKEN_SLACK = 10, 8


def speech_frames(n_samples: int, max_frames: int) -> int:
    """Encoder frames that cover the clip's audio (at least one)."""
    return min(max_frames, max(1, math.ceil(n_samples / SAMPLES_PER_FRAME)))


def encoder_frames(n_samples: int, max_frames: int) -> int:
    """The encoder's input length for a clip of ``n_samples``: its audio plus a tail, in whole seconds."""
    need = math.ceil(n_samples / SAMPLES_PER_FRAME) + TAIL_FRAMES
    return min(max_frames, math.ceil(need / BUCKET_FRAMES) * BUCKET_FRAMES)


def token_budget(n_samples: int, cap: int) -> int:
    return min(cap, math.ceil(n_samples / SAMPLE_RATE * TOKENS_PER_SECOND) + TOKEN_SLACK)


def _heads(x: torch.Tensor, n: int) -> torch.Tensor:  # (B, T, D) -> (B, n, T, D / n)
    return x.view(x.shape[0], x.shape[1], n, -1).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:  # (B, n, T, Dh) -> (B, T, D)
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], -1)


def encode(model, mel: torch.Tensor) -> torch.Tensor:
    """(N, T, d) encoder output of log-mels (N, n_mels, 2T) that all have the same length T <= 1500."""
    enc = model.model.encoder
    x = F.gelu(enc.conv2(F.gelu(enc.conv1(mel)))).transpose(1, 2)
    x = x + enc.embed_positions.weight[: x.shape[1]]
    for layer in enc.layers:
        x = layer(x, None, None)[0]
    return enc.layer_norm(x)


def key_mask(lengths: Sequence[int], frames: int, device) -> torch.Tensor:
    """(N, 1, 1, frames) boolean attention mask: True where a row's key is one of its own frames."""
    return (torch.arange(frames, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None])[:, None, None, :]


class _Cross:
    """Each decoder layer's cross-attention keys and values over the clips' frames, computed once per batch."""

    def __init__(self, dec, hidden: torch.Tensor, lengths: Sequence[int]):
        self.kv = [(_heads(l.encoder_attn.k_proj(hidden), l.encoder_attn.num_heads),
                    _heads(l.encoder_attn.v_proj(hidden), l.encoder_attn.num_heads)) for l in dec.layers]
        frames = hidden.shape[1]
        self.mask = key_mask(lengths, frames, hidden.device) if min(lengths) < frames else None

    def keep(self, rows: torch.Tensor) -> None:
        """Only these clips from now on (greedy decoding: rows that have not finished)."""
        self.kv = [(k[rows], v[rows]) for k, v in self.kv]
        self.mask = None if self.mask is None else self.mask[rows]

    def attend(self, layer: int, q: torch.Tensor) -> torch.Tensor:
        """Row i's queries (N, heads, T, dh) attend to clip i's frames."""
        k, v = self.kv[layer]
        return F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask)

    def attend_grouped(self, layer: int, q: torch.Tensor, groups: list[tuple[int, torch.Tensor]]) -> torch.Tensor:
        """For each (clip, rows) of ``groups``, those rows' queries attend to that clip's frames: all of a clip's
        rows as one sequence of queries, so its keys and values are never copied per row."""
        k, v = self.kv[layer]
        out = torch.empty_like(q)
        for clip, rows in groups:
            n, heads, length, dh = len(rows), q.shape[1], q.shape[2], q.shape[3]
            flat = q[rows].transpose(0, 1).reshape(1, heads, n * length, dh)
            mask = None if self.mask is None else self.mask[clip : clip + 1]
            o = F.scaled_dot_product_attention(flat, k[clip : clip + 1], v[clip : clip + 1], attn_mask=mask)
            out[rows] = o.reshape(heads, n, length, dh).transpose(0, 1)
        return out


def _block(layer, x: torch.Tensor, h: torch.Tensor, self_kv: tuple[torch.Tensor, torch.Tensor] | None,
           cross_attend: Callable[[torch.Tensor], torch.Tensor], causal: bool) -> torch.Tensor:
    """One pre-norm decoder layer on ``x`` (``h``: its self-attention layer norm). ``self_kv``: the cache to
    attend to (keys and values up to and including ``x``'s positions), or None to attend within ``x``;
    ``cross_attend``: queries -> their attention over the clips' frames."""
    sa, ca = layer.self_attn, layer.encoder_attn
    q = _heads(sa.q_proj(h), sa.num_heads)
    if self_kv is None:
        k, v = _heads(sa.k_proj(h), sa.num_heads), _heads(sa.v_proj(h), sa.num_heads)
    else:
        k, v = self_kv
    x = x + sa.out_proj(_merge(F.scaled_dot_product_attention(q, k, v, is_causal=causal)))
    h = layer.encoder_attn_layer_norm(x)
    x = x + ca.out_proj(_merge(cross_attend(_heads(ca.q_proj(h), ca.num_heads))))
    return x + layer.fc2(F.gelu(layer.fc1(layer.final_layer_norm(x))))


class Int8Linear(nn.Module):
    """A linear layer for greedy decoding on a CPU: weights in int8 with one scale per output channel (weight-only:
    each row's result depends on that row alone, unlike dynamic quantisation's per-tensor activation scales),
    activations in bfloat16, through ``torch.ops.aten._weight_int8pack_mm``. Why: at batch 1 a decoding step
    is bound by reading tiny.en's weights (31 MB of float32 decoder layers a token), and this product reads a
    quarter of that at ~3x the speed of float32 ``F.linear``. Outputs differ from float32 by the weights'
    rounding (~0.3 %); ``tests/unit/test_whisper_passes.py`` compares the transcripts."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None = None):
        super().__init__()
        w = weight.detach().float()
        # The scale is rounded to bfloat16 (the product's dtype) before quantising, so its rounding is not a
        # systematic error of the whole output channel.
        scale = (w.abs().amax(dim=1).clamp(min=1e-8) / 127).bfloat16()
        self.register_buffer("weight", torch.round(w / scale.float()[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if bias is None else bias.detach().float())
        self.out_features = w.shape[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.aten._weight_int8pack_mm(x.reshape(-1, x.shape[-1]).bfloat16(), self.weight, self.scale)
        y = y.float().reshape(*x.shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias


def int8_available(device: torch.device) -> bool:
    return device.type == "cpu" and hasattr(torch.ops.aten, "_weight_int8pack_mm")


def int8_decoder(decoder: nn.Module) -> nn.Module:
    """A copy of a Whisper decoder whose linear layers are ``Int8Linear`` (for greedy decoding only: scoring
    keeps the float32 decoder, so re-ranking scores stay exact)."""
    copy = deepcopy(decoder)
    for module in list(copy.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Linear):
                setattr(module, name, Int8Linear(child.weight, child.bias))
    return copy.eval()


class Int4Rows:
    """A rough copy of a large weight matrix for shortlisting: 4-bit weights with a scale and an offset per group of
    ``GROUP`` inputs, through ``torch.ops.aten._weight_int4pack_mm_for_cpu`` (bfloat16 activations). Reading the
    51,864 x 384 vocabulary is most of a greedy step at batch 1 (memory-bound): this copy is 10 MB against int8's
    20 MB and float32's 80 MB. Its scores are only ever used to shortlist (``Vocabulary``)."""

    GROUP = 128  # 3 groups over tiny.en's 384 inputs: measured, 0 shortlist misses in 427 steps of 60 clips

    def __init__(self, weight: torch.Tensor):
        w = weight.detach().float()
        self.rows, inputs = w.shape
        w = torch.cat([w, w.new_zeros((-self.rows) % 16, inputs)])  # the packing wants rows in sixteens
        groups = w.reshape(w.shape[0], inputs // self.GROUP, self.GROUP)
        low, high = groups.amin(-1), groups.amax(-1)
        scale = (high - low).clamp(min=1e-8) / 15
        q = torch.round((groups - low[..., None]) / scale[..., None]).clamp(0, 15).reshape(w.shape).to(torch.int32)
        # The kernel dequantises q as (q - 8) x scale + zero, so zero is the group's low end moved by 8 steps.
        self.scales_and_zeros = torch.stack([scale.t(), (low + 8 * scale).t()], dim=-1).bfloat16().contiguous()
        self.packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, 2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(x.bfloat16(), self.packed, self.GROUP, self.scales_and_zeros)
        return y[:, : self.rows].float()


def int4_available(device: torch.device) -> bool:
    return device.type == "cpu" and hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")


class Vocabulary:
    """The output projection for greedy decoding. Reading its 51,864 x 384 float32 weights (80 MB) is most of a
    decoding step on a CPU (~9 ms; memory-bound), so the next token is found in two passes: a 4-bit copy
    (``Int4Rows``, 10 MB; int8 where this torch lacks the 4-bit product) shortlists the ``SHORTLIST`` best tokens,
    and the float32 weights score only those. The argmax is the float32 one unless rounding pushes it out of
    the shortlist, which ``tests/unit/test_whisper_passes.py`` checks does not happen on real clips (decision
    0013: 0 misses in 427 steps with 8; 16 leaves a margin for the price of reading 16 rows)."""

    SHORTLIST = 16

    def __init__(self, weight: torch.Tensor, suppress: torch.Tensor):
        self.weight, self.suppress = weight, suppress
        self.rough: Callable[[torch.Tensor], torch.Tensor] | None = None  # accelerators: float32 is not the bottleneck
        if int4_available(weight.device) and weight.shape[1] % Int4Rows.GROUP == 0:
            self.rough = Int4Rows(weight)
        elif int8_available(weight.device):
            self.rough = Int8Linear(weight)

    def argmax(self, x: torch.Tensor, banned: torch.Tensor | None = None) -> torch.Tensor:
        """(N,) the most likely allowed token after each row of ``x`` (N, d)."""
        if self.rough is None:
            return self._masked(x @ self.weight.T, banned).argmax(dim=-1)
        rough = self._masked(self.rough(x), banned)
        short = rough.topk(self.SHORTLIST, dim=-1).indices  # (N, k)
        exact = torch.einsum("nd,nkd->nk", x, self.weight[short])
        exact = exact.masked_fill(rough.gather(1, short) == -math.inf, -math.inf)
        return short.gather(1, exact.argmax(dim=-1, keepdim=True)).squeeze(1)

    def _masked(self, logits: torch.Tensor, banned: torch.Tensor | None) -> torch.Tensor:
        logits = logits.masked_fill(self.suppress, -math.inf)
        if banned is not None:
            logits[:, banned] = -math.inf
        return logits


# Below this many rows a greedy step is a few hundred tiny operations, and waking a second intra-op thread for
# each costs more than it saves inside the server (measured: one clip's speech call 112-122 ms on one thread,
# 144-165 ms on two); from here on the products are large enough to share.
ONE_THREAD_ROWS = 2


@contextmanager
def one_thread_for_small_batches(rows: int, device: torch.device) -> Iterator[None]:
    threads = torch.get_num_threads()
    if device.type != "cpu" or rows > ONE_THREAD_ROWS or threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def greedy(dec: nn.Module, vocab: Vocabulary, hidden: torch.Tensor, lengths: Sequence[int], budgets: Sequence[int],
           prompt: Sequence[int], eot: int, suppress_begin: torch.Tensor) -> list[list[int]]:
    """Greedy token ids (without the end of text) for each row of ``hidden`` (N, T, d), whose first
    ``lengths[i]`` frames are row i's clip; row i writes at most ``budgets[i]`` tokens. Finished rows leave the
    batch, so a long transcript does not make the short ones pay. ``dec``: a Whisper decoder (the model's, or
    its ``int8_decoder`` copy)."""
    n, device = hidden.shape[0], hidden.device
    cross = _Cross(dec, hidden, lengths)
    steps = max(budgets)
    heads, dh = dec.layers[0].self_attn.num_heads, dec.layers[0].self_attn.head_dim
    cache = [torch.empty(2, n, heads, len(prompt) + steps, dh, device=device, dtype=hidden.dtype) for _ in dec.layers]
    rows = torch.arange(n, device=device)  # the original row of each row still decoding
    budget = torch.tensor(budgets, device=device)
    out: list[list[int]] = [[] for _ in range(n)]
    ids = torch.tensor([list(prompt)] * n, device=device)
    pos = 0
    for step in range(steps):
        length = ids.shape[1]
        x = dec.embed_tokens(ids) + dec.embed_positions.weight[pos : pos + length]
        for i, layer in enumerate(dec.layers):
            sa, kv = layer.self_attn, cache[i]
            h = layer.self_attn_layer_norm(x)
            kv[0, :, :, pos : pos + length] = _heads(sa.k_proj(h), sa.num_heads)
            kv[1, :, :, pos : pos + length] = _heads(sa.v_proj(h), sa.num_heads)
            x = _block(layer, x, h, (kv[0, :, :, : pos + length], kv[1, :, :, : pos + length]),
                       lambda q, i=i: cross.attend(i, q), causal=length > 1)
        pos += length
        nxt = vocab.argmax(dec.layer_norm(x[:, -1]), suppress_begin if step == 0 else None)
        said = nxt != eot
        for r, t, s in zip(rows.tolist(), nxt.tolist(), said.tolist()):
            if s:
                out[r].append(t)
        going = said & (budget > step + 1)
        if not bool(going.any()):
            break
        if not bool(going.all()):
            keep = going.nonzero().squeeze(1)
            rows, budget, nxt = rows[keep], budget[keep], nxt[keep]
            cross.keep(keep)
            cache = [kv[:, keep] for kv in cache]
        ids = nxt[:, None]
    return out


def score(model, hidden: torch.Tensor, lengths: Sequence[int], clips: Sequence[int], seqs: Sequence[Sequence[int]],
          suppress: torch.Tensor) -> torch.Tensor:
    """(K,) summed log-probabilities of K token sequences (prompt, text, end of text), sequence k given clip
    ``clips[k]``: row ``clips[k]`` of ``hidden`` (C, T, d), whose first ``lengths`` frames are its own. One
    decoder pass for all of them, whichever clips they belong to: cross-attention keys and values are computed
    once per clip, and the 51,864-way output projection (most of the cost) once per distinct prefix of a clip
    (candidates share openings such as "how do i"; padding is never projected)."""
    dec = model.model.decoder
    device = hidden.device
    k, width = len(seqs), max(map(len, seqs))
    ids = torch.zeros((k, width), dtype=torch.long, device=device)  # right padding: causal, never read
    for i, q in enumerate(seqs):
        ids[i, : len(q)] = torch.tensor(q, device=device)
    cross = _Cross(dec, hidden, lengths)
    groups = [(c, torch.tensor([i for i, o in enumerate(clips) if o == c], device=device)) for c in sorted(set(clips))]
    x = dec.embed_tokens(ids) + dec.embed_positions.weight[:width]
    for i, layer in enumerate(dec.layers):
        x = _block(layer, x, layer.self_attn_layer_norm(x), None, lambda q, i=i: cross.attend_grouped(i, q, groups),
                   causal=True)
    first: dict[tuple[int, ...], int] = {}
    where, owner, row, col = [], [], [], []
    for i, q in enumerate(seqs):
        for t in range(len(q) - 2):  # position t + 1 predicts token t + 2 (after the two-token prompt)
            u = first.setdefault((clips[i], *q[: t + 2]), len(where))
            if u == len(where):
                where.append((i, t + 1))
            owner.append(u)
            row.append(i)
            col.append(q[t + 2])
    at = torch.tensor(where, device=device)
    logits = model.proj_out(dec.layer_norm(x[at[:, 0], at[:, 1]])).float().masked_fill(suppress, -math.inf)
    owners = torch.tensor(owner, device=device)
    logp = logits[owners, torch.tensor(col, device=device)] - torch.logsumexp(logits, dim=-1)[owners]
    return torch.zeros(k, device=device).index_add(0, torch.tensor(row, device=device), logp)
