"""``xmodal align`` and ``xmodal eval``: data -> cached features -> heads -> checkpoint -> report.

Choices (epoch, ConSE mix, speech fusion weight and default mode) are made on the validation split; the
test split is only evaluated, once, for the report and the manifest's headline metrics.

With ``--unfreeze-top N`` the image backbone's top N layers train with the heads from cached trunk rows;
the validation and test image features are then recomputed from those rows with the trained layers, as the
server computes them with the checkpoint's weights loaded (class probabilities, and so ConSE, stay those of
the pretrained network: see encoders/finetune.py).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..encoders.base import IMAGE, SPEECH, TEXT
from ..encoders.finetune import FineTunable, TopLayers, load_backbone_weights
from ..encoders.heads import FORMAT, Checkpoint, load_checkpoint
from ..encoders.registry import PROFILES, EncoderSpec, build
from ..evaluation.metrics import RetrievalResult
from ..evaluation.protocol import (PROTOCOL_VERSION, ProtocolData, evaluate, image_task_results, pretrained_decoder_results,
                                   speech_task_results)
from ..evaluation.report import write_report
from . import data as D
from .emoji import TRAIN_STYLES
from .model import MLPHead
from .train import PairTask, TrainConfig, Trained, train

log = logging.getLogger(__name__)

CONSE_GRID = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
FUSION_GRID = tuple(round(x, 2) for x in np.linspace(0, 1, 11))
SPEECH_SELECTION_TASKS = ("speech→text (gallery: whole corpus)", "spoken question→FAQ answer")


def build_encoders(profile: str, overrides: dict[str, str | None] | None = None, device: str = "cpu") -> dict:
    overrides = overrides or {}
    return {m: build(EncoderSpec(name, overrides.get(m) or None, device)) for m, name in PROFILES[profile].items()}


def protocol_data(encoders: dict, work: Path, limit: int | None = None, with_real: bool = True,
                  train_styles: tuple[str, ...] = (), speech_splits: tuple[str, ...] = ("train", "val", "test")) -> ProtocolData:
    """``speech_splits``: the splits whose clips are encoded (training needs all three; ``xmodal eval`` reports
    the test split only, and each split's features are cached on their own, so it need not encode the rest)."""
    text = encoders[TEXT]
    emoji = D.emoji_set(encoders[IMAGE], work, limit, train_styles)
    corpus = D.corpus_with_emoji(emoji.concepts)
    speech = D.speech_sets(corpus, encoders[SPEECH], work, splits=speech_splits, limit=limit)
    real = D.real_speech_set(encoders[SPEECH], work) if with_real else None
    heard = {k: D.text_vectors(text, [t or "." for t in v.transcripts], work) for k, v in speech.items()}
    if real is not None:
        heard["real"] = D.text_vectors(text, [t or "." for t in real.transcripts], work)
    return ProtocolData(
        emoji=emoji,
        caption_vectors=D.text_vectors(text, [c.caption for c in emoji.concepts], work),
        class_vectors=D.text_vectors(text, list(encoders[IMAGE].class_names), work),
        corpus=corpus,
        corpus_vectors=D.text_vectors(text, [s.text for s in corpus], work),
        speech=speech,
        transcript_vectors=heard,
        real=real,
        real_text_vectors=D.text_vectors(text, real.texts, work) if real is not None else None,
    )


def image_task(data: ProtocolData, encoders: dict, work: Path, trunks: dict[str, np.ndarray] | None = None,
               top: TopLayers | None = None) -> PairTask:
    """Training images -> captions; with ``top``, the inputs are the cached ``trunks`` rows it trains on."""
    extras = sorted({e for c in data.emoji.concepts for e in c.extra_texts})
    extra_vectors = dict(zip(extras, D.text_vectors(encoders[TEXT], extras, work)))
    inputs, targets, groups = [], [], []
    for style, (idx, feats) in data.emoji.styles.items():
        rows = feats["features"] if top is None else trunks[style]  # type: ignore[index]
        for j, i in enumerate(idx):
            c = data.emoji.concepts[i]
            if c.split != "train":
                continue
            inputs.append(rows[j])
            targets.append(np.stack([data.caption_vectors[i], *[extra_vectors[e] for e in c.extra_texts]]))
            groups.append(i)
    return PairTask(IMAGE, np.stack(inputs).astype(np.float32), targets, np.array(groups), top)


def with_finetuned(data: ProtocolData, top: TopLayers | None, trunks: dict[str, np.ndarray], splits: tuple[str, ...]) -> ProtocolData:
    """``data`` with the image features of ``splits`` recomputed by the trained ``top`` layers from the cached
    trunk rows: what the server computes with the checkpoint loaded. Unchanged without fine-tuning."""
    if top is None:
        return data
    styles = {}
    for style, (idx, feats) in data.emoji.styles.items():
        rows = [j for j, i in enumerate(idx) if data.emoji.concepts[i].split in splits]
        features = feats["features"].copy()
        if rows:
            features[rows] = top.features(trunks[style][rows])
        styles[style] = (idx, {**feats, "features": features})
    return replace(data, emoji=replace(data.emoji, styles=styles))


def speech_task(data: ProtocolData) -> PairTask:
    where = data.index_of()
    s = data.speech["train"]
    rows = [where[t] for t in s.texts]
    return PairTask(SPEECH, s.features.astype(np.float32), [data.corpus_vectors[r][None] for r in rows], np.array(rows))


def checkpoint_from(trained: Trained, ckpt_id: str, conse_weight: float = 0.0, direct_weight: float = 1.0,
                    default_mode: str = "direct", metrics: dict | None = None, note: str = "") -> Checkpoint:
    heads = {
        TEXT: {"type": "identity"},
        IMAGE: {"type": "mlp", "conse_weight": conse_weight, "top": 10},
        SPEECH: {"type": "fused", "direct_weight": direct_weight, "default_mode": default_mode},
    }
    for modality, top in trained.tops.items():  # the manifest names the fine-tuned layers
        heads[modality]["finetuned"] = {"top": top.n, "layers": list(top.layer_names)}
    return Checkpoint(id=ckpt_id, aligned=True, note=note, heads=heads, metrics=metrics or {}, weights=trained.export())


def _find(results: list[RetrievalResult], task: str, method: str) -> RetrievalResult:
    for r in results:
        if r.task == task and r.method == method:
            return r
    raise KeyError((task, method))


def _r(results: list[RetrievalResult], task: str, method: str, metric: str = "r1") -> float:
    return getattr(_find(results, task, method), metric)


def choose_fusion(trained: Trained, data: ProtocolData) -> tuple[float, float, str, dict[str, float]]:
    """Pick the ConSE mix and the speech fusion weight/default mode on the validation split."""
    best_a, best_img = 0.0, -1.0
    for a in CONSE_GRID:
        res = image_task_results(checkpoint_from(trained, "val", conse_weight=a), data, "val", "m")
        score = _r(res, "emoji text→image (google)", "m", "mrr")
        if score > best_img:
            best_a, best_img = a, score
    # Speech serves two uses: matching an utterance to its own words (commands, transcripts) and a spoken
    # question finding its written answer (FAQ). The direct path helps the first and hurts the second, so
    # the weight maximises the mean validation MRR of both, not of either alone.
    best_w, best_sp = 1.0, -1.0
    for w in FUSION_GRID:
        res = speech_task_results(checkpoint_from(trained, "val", direct_weight=w), data, "val", methods=("fused",), upper_bound=False)
        present = [t for t in SPEECH_SELECTION_TASKS if any(r.task == t for r in res)]
        score = float(np.mean([_r(res, t, "fused", "mrr") for t in present]))
        if score > best_sp:
            best_w, best_sp = w, score
    mode = "transcribe" if best_w == 0.0 else "direct" if best_w == 1.0 else "fused"
    return best_a, best_w, mode, {"val text→image MRR": best_img, "val speech MRR (speech→text whole corpus, spoken FAQ)": best_sp}


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def save_checkpoint(ckpt: Checkpoint, out_dir: Path, manifest_extra: dict) -> Path:
    from safetensors.numpy import save_file

    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}-"))
    save_file({k: np.ascontiguousarray(v) for k, v in ckpt.weights.items()}, str(tmp / "heads.safetensors"))
    manifest = {"format": FORMAT, "id": ckpt.id, "aligned": ckpt.aligned, "note": ckpt.note, "heads": ckpt.heads,
                "metrics": ckpt.metrics, **manifest_extra}
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return out_dir


def headline(results: list[RetrievalResult], ckpt_id: str) -> dict[str, str]:
    """A few test numbers for GetInfo, each with its gallery size."""
    out = {}
    for r in results:
        if r.method in (ckpt_id, "fused", "transcribe", "direct") and (r.task.startswith("emoji text→image (google)")
                                                                       or "whole corpus" in r.task or r.task.startswith("real")):
            out[f"{r.task} [{r.method}] R@1"] = f"{r.r1:.3f} (gallery {r.gallery_size})"
    return out


def finetuned_data(ckpt: Checkpoint, encoders: dict, data: ProtocolData, work: Path) -> ProtocolData:
    """``data`` as the server sees it with ``ckpt`` loaded: its fine-tuned image layers, if any, applied to the
    cached trunk rows of the validation and test images."""
    state = ckpt.backbone_weights(IMAGE)
    if not state:
        return data
    n = int(ckpt.heads[IMAGE]["finetuned"]["top"])
    top = encoders[IMAGE].top_layers(n)
    top.load(state, f"{ckpt.id} ({ckpt.path})")
    return with_finetuned(data, top, D.emoji_trunks(encoders[IMAGE], data.emoji, n, work), ("val", "test"))


def checkpoint_digest(weights: dict[str, np.ndarray], heads: dict) -> str:
    """Names the vectors a checkpoint produces: every weight (heads and fine-tuned backbone layers alike)
    and the head specs (mixing weights, which layers were fine-tuned). Different weights, different id."""
    h = hashlib.sha256(b"".join(v.tobytes() for _, v in sorted(weights.items())))
    h.update(json.dumps(heads, sort_keys=True).encode())
    return h.hexdigest()[:8]


def train_decoder_adapters(encoders: dict, data: ProtocolData, work: Path, cfg: TrainConfig) -> dict[str, np.ndarray]:
    """``--asr-epochs N``: low-rank adapters on the speech model's decoder (asr_adapt.py), trained on the
    training clips' true transcripts from cached encoder outputs; returned in the checkpoint's form (names
    relative to the backbone) and left out of the encoder."""
    from . import asr_adapt
    from .asr_states import StateCache

    encoder = encoders[SPEECH]
    if not all(hasattr(encoder, a) for a in ("text_tokens", "transcribe", "load_finetuned")):
        raise ValueError(f"--asr-epochs: the speech backbone {encoder.info.name} has no decoder to adapt "
                         "(Whisper only; the reference profile's Wav2Vec2 CTC head is not adapted)")
    train_set = data.speech["train"]
    states = StateCache(encoder, work / "asr-states").get(train_set.paths, "speech encoder outputs (train)")
    adapters = asr_adapt.train(encoder, states, train_set.texts, cfg.asr_epochs, cfg.asr_rank, lr=cfg.asr_lr, seed=cfg.seed)
    state = asr_adapt.export(adapters)
    asr_adapt.detach(encoder.model, adapters)
    return state


def with_decoder_adapters(ckpt: Checkpoint, state: dict[str, np.ndarray], cfg: TrainConfig) -> Checkpoint:
    """``ckpt`` with the speech decoder's adapters: weights ``backbone.speech.*`` and the manifest's record."""
    if not state:
        return ckpt
    heads = json.loads(json.dumps(ckpt.heads))
    heads[SPEECH]["finetuned"] = {"decoder_adapters": {"rank": cfg.asr_rank, "epochs": cfg.asr_epochs, "lr": cfg.asr_lr,
                                                       "layers": len(state) // 2}}
    return replace(ckpt, heads=heads, weights={**ckpt.weights, **{f"backbone.{SPEECH}.{k}": v for k, v in state.items()}})


def load_speech_backbone(ckpt: Checkpoint, encoders: dict) -> None:
    """The checkpoint's speech decoder adapters into the speech encoder (none: the pretrained decoder), as the
    server loads them, so that the transcripts measured are the ones served."""
    load_backbone_weights(encoders[SPEECH], ckpt.backbone_weights(SPEECH), SPEECH, f"{ckpt.id} ({ckpt.path})")


def backbone_top(encoders: dict, cfg: TrainConfig) -> dict[str, int]:
    """Modality -> N for ``--unfreeze-top N`` (empty: frozen backbones), checked against the backbones."""
    if cfg.unfreeze_top <= 0:
        return {}
    out = {}
    for modality in cfg.unfreeze:
        if modality != IMAGE:
            raise ValueError(f"--unfreeze-modalities {modality}: only the image backbone can be fine-tuned so far")
        encoder = encoders[modality]
        if not isinstance(encoder, FineTunable):
            raise ValueError(f"the {modality} backbone {encoder.info.name} does not support --unfreeze-top")
        if cfg.unfreeze_top > encoder.max_unfreeze:
            raise ValueError(f"--unfreeze-top {cfg.unfreeze_top}: {encoder.info.name} has {encoder.max_unfreeze} layers to unfreeze")
        out[modality] = cfg.unfreeze_top
    return out


def run_align(profile: str, work: Path, out_dir: Path, cfg: TrainConfig, limit: int | None = None,
              overrides: dict | None = None, with_real: bool = True, train_styles: tuple[str, ...] = TRAIN_STYLES,
              device: str = "cpu") -> Path:
    encoders = build_encoders(profile, overrides, device)
    unfreeze = backbone_top(encoders, cfg)
    data = protocol_data(encoders, work, limit, with_real, train_styles)
    decoder_adapters = train_decoder_adapters(encoders, data, work, cfg) if cfg.asr_epochs > 0 else {}
    if decoder_adapters:  # the same clips, transcribed by the adapted decoder, for every choice below
        encoders[SPEECH].load_finetuned(decoder_adapters, "xmodal align (this run)")
        data = protocol_data(encoders, work, limit, with_real, train_styles)
    trunks = D.emoji_trunks(encoders[IMAGE], data.emoji, unfreeze[IMAGE], work) if IMAGE in unfreeze else {}
    top = encoders[IMAGE].top_layers(unfreeze[IMAGE]) if IMAGE in unfreeze else None
    tasks = [image_task(data, encoders, work, trunks, top), speech_task(data)]
    weights = {IMAGE: cfg.lam, SPEECH: 1 - cfg.lam}

    def validate(t: Trained) -> dict[str, float]:
        ck = checkpoint_from(t, "val")
        seen = with_finetuned(data, t.tops.get(IMAGE), trunks, ("val",))  # this epoch's backbone, if it trains
        img = _find(image_task_results(ck, seen, "val", "m"), "emoji text→image (google)", "m")
        sp = _find(speech_task_results(ck, data, "val", methods=("direct",), upper_bound=False),
                   "speech→text (gallery: whole corpus)", "direct")
        # Each head stops at its best MRR (steadier than R@1 on a ~390-query split).
        return {"text→image R@1": img.r1, "speech→text direct R@1": sp.r1,
                "score": cfg.lam * img.mrr + (1 - cfg.lam) * sp.mrr, f"score/{IMAGE}": img.mrr, f"score/{SPEECH}": sp.mrr}

    trained = train(tasks, weights, cfg, validate, device=device)
    # From here on, the image features are those of the checkpoint's backbone (the pretrained one if frozen).
    # Speech→image tasks read them too, so the speech choices below see the served image vectors.
    data = with_finetuned(data, trained.tops.get(IMAGE), trunks, ("val", "test"))
    a, w, mode, val_scores = choose_fusion(trained, data)
    # The id names the vectors the checkpoint produces: its weights and the mixing weights chosen above.
    draft = with_decoder_adapters(checkpoint_from(trained, "", a, w, mode), decoder_adapters, cfg)
    digest = checkpoint_digest(draft.weights, draft.heads)
    ckpt_id = f"{profile}-align-{PROTOCOL_VERSION}-{digest}"
    tuned = f"; image backbone top {unfreeze[IMAGE]} layers fine-tuned" if IMAGE in unfreeze else ""
    note = (f"Trained heads (InfoNCE, text pivot frozen, λ={cfg.lam}{tuned}): image MLP mixed with ConSE (weight {a}); "
            f"speech {mode} (direct weight {w}). Chosen on the validation split.")
    if decoder_adapters:
        note += f" Speech decoder: low-rank adapters (rank {cfg.asr_rank}, {cfg.asr_epochs} epochs) trained on the training voices."
    ckpt = with_decoder_adapters(checkpoint_from(trained, ckpt_id, a, w, mode, note=note), decoder_adapters, cfg)
    # The zero-shot baseline reads class probabilities only, which fine-tuning leaves as they were.
    baselines = {"untrained heads": untrained_like(ckpt),
                 "zero-shot (ConSE / transcribe)": load_checkpoint(None)}
    results = evaluate(ckpt, data, "test", baselines)
    ckpt = Checkpoint(**{**ckpt.__dict__, "metrics": headline(results, ckpt_id)})
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ckpt, out_dir, {
        "profile": profile, "encoders": {m: e.info.name for m, e in encoders.items()},
        "config": asdict(cfg), "best_epoch": trained.best_epoch, "validation": val_scores,
        "data": {"emoji_concepts": len(data.emoji.concepts), "train_clips": len(data.speech["train"].texts),
                 "emoji_train_styles": [*D.PROTOCOL_STYLES, *train_styles],
                 "corpus_sentences": len(data.corpus), "limit": limit},
        "protocol": PROTOCOL_VERSION, "commit": _git_commit(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    })
    write_report(results, out_dir / "report", title=f"xmodal align — {ckpt_id}",
                 meta=_meta(ckpt_id, profile, f"xmodal align --profile {profile}", device), curves=trained.curves)
    return out_dir


def _meta(ckpt_id: str, profile: str, command: str, device: str = "cpu") -> dict[str, str]:
    import shlex
    import sys

    if Path(sys.argv[0]).name in ("xmodal", "cli.py") or sys.argv[0].endswith("xmodal.cli"):
        command = shlex.join(["xmodal", *sys.argv[1:]])  # the command line as the user typed it
    return {"checkpoint": ckpt_id, "profile": profile, "protocol": f"docs/EVALUATION.md {PROTOCOL_VERSION}", "command": command,
            "commit": _git_commit(), "machine": f"{platform.machine()}, {os.cpu_count()} cores, {device.upper()}",
            "date": datetime.date.today().isoformat()}


def untrained_like(ckpt: Checkpoint, seed: int = 0) -> Checkpoint:
    """The baseline "untrained heads": the checkpoint's architecture with fresh random initialisation."""
    import torch

    torch.manual_seed(seed)
    weights = dict(ckpt.weights)
    for modality in (IMAGE, SPEECH):
        shapes = [ckpt.weights[f"{modality}.l{i}.weight"].shape for i in range(8) if f"{modality}.l{i}.weight" in ckpt.weights]
        if shapes:
            head = MLPHead(shapes[0][1], shapes[-1][0], shapes[0][0], depth=len(shapes))
            weights.update(head.export(modality))
    return Checkpoint(**{**ckpt.__dict__, "id": "untrained heads", "weights": weights})


def run_eval(checkpoint: str | None, profile: str, work: Path, out_dir: Path, limit: int | None = None,
             overrides: dict | None = None, rerank: tuple[int, ...] = (), sound_alike: int | None = None,
             sound_alike_weight: float | None = None) -> Path:
    """The protocol on the test split for ``checkpoint``, baselines in the same run; each K of ``rerank`` adds
    the fused search with its top K re-ranked by the speech model (``evaluation/rerank_eval.py``), alone and
    with ``sound_alike`` sound-alike candidates (default: the server's ``rerank_sound_alike``); the fused search
    ranked with the ``sound_alike_weight`` (default: the server's), alone and under each re-ranking depth; and
    always SearchBySpeech's default (the server's re-ranking depth, sound-alike texts and weight)."""
    from ..encoders.heads import default_checkpoint

    checkpoint = checkpoint or default_checkpoint(profile)
    ckpt = load_checkpoint(checkpoint)
    encoders = build_encoders(profile, overrides)
    # With decoder adapters, the pretrained decoder's transcripts are a baseline of the same run.
    pretrained = protocol_data(encoders, work, limit, speech_splits=("test",)) if ckpt.backbone_weights(SPEECH) else None
    load_speech_backbone(ckpt, encoders)
    data = finetuned_data(ckpt, encoders, protocol_data(encoders, work, limit, speech_splits=("test",)), work)
    baselines = {"untrained heads": untrained_like(ckpt), "zero-shot (ConSE / transcribe)": load_checkpoint(None)} \
        if ckpt.id != "zero-shot-v0" else {}
    results = evaluate(ckpt, data, "test", baselines)
    if pretrained is not None:
        results += pretrained_decoder_results(ckpt, pretrained, "test")
    from ..config import Config
    from ..evaluation.rerank_eval import rerank_results, sound_alike_results

    cfg = Config()
    weight = cfg.sound_alike_weight if sound_alike_weight is None else sound_alike_weight
    extras = sorted({0, cfg.rerank_sound_alike if sound_alike is None else sound_alike})
    if weight:
        results += sound_alike_results(ckpt, data, "test", weight)
    # (depth, sound-alike texts, weight) of each re-ranked row: every --rerank K alone, with the extras, and under
    # the weight; and always what SearchBySpeech does by default, when this speech model can re-rank.
    runs = [run for k in rerank for run in [(k, n, 0.0) for n in extras] + ([(k, extras[-1], weight)] if weight else [])]
    if cfg.rerank_candidates and encoders[SPEECH].rerank_gate is not None:
        runs.append((cfg.rerank_candidates, cfg.rerank_sound_alike, cfg.sound_alike_weight))
    for k, n, w in dict.fromkeys(runs):
        results += rerank_results(ckpt, data, "test", encoders[SPEECH], work / "features", k, n, w)
    return write_report(results, out_dir, title=f"xmodal eval — {ckpt.id}",
                        meta=_meta(ckpt.id, profile, f"xmodal eval --checkpoint {checkpoint or 'builtin'}"))
