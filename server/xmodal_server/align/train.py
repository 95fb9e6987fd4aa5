"""The multi-task contrastive training loop on cached features.

loss = λ·L(image, text) + (1−λ)·L(speech, text), each a symmetric InfoNCE with its own learnable
temperature, against frozen text vectors (the pivot). Each head keeps the epoch with its best validation
score (early stopping by measurement, not by taste): the image head overfits its ~1,500 training concepts
within a few epochs while the speech head still improves for dozens.

A task may also carry the top layers of its backbone (``--unfreeze-top N``): then its inputs are the
cached activations at the input of those layers, and the layers train jointly with the head at their own,
smaller learning rate (pretrained weights need nudging, not relearning), kept with the head's best epoch.
"""
from __future__ import annotations

import copy
import logging
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..encoders.finetune import PREFIX, TopLayers
from .model import LogitScale, MLPHead, info_nce

log = logging.getLogger(__name__)


@dataclass
class PairTask:
    """Row i of ``inputs`` pairs with any row of ``targets[i]`` (caption, short names...: one is drawn
    per step); rows sharing a ``group`` (two art styles, two voices of one sentence) are not negatives."""

    name: str
    inputs: np.ndarray  # (N, D_in) float32, raw backbone features (standardised here), or ``top``'s input rows
    targets: list[np.ndarray]  # N arrays of shape (k_i, D_out), unit rows
    groups: np.ndarray  # (N,) int
    top: TopLayers | None = None  # trainable top backbone layers: features = top(inputs)

    def __post_init__(self) -> None:
        if not len(self.inputs) == len(self.targets) == len(self.groups) or len(self.inputs) == 0:
            raise ValueError(f"task {self.name}: inputs, targets and groups must be non-empty and of one length")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 40
    lam: float = 0.5  # weight of the image-text loss; 1 - lam for speech-text
    depth: int = 2
    hidden: int = 1024
    dropout: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch: int = 256
    seed: int = 0
    unfreeze_top: int = 0  # top backbone layers trained with the heads (0: frozen backbones)
    unfreeze: tuple[str, ...] = ("image",)  # modalities whose backbone --unfreeze-top applies to
    backbone_lr: float = 1e-4  # peak learning rate of unfrozen backbone layers
    asr_epochs: int = 0  # epochs of the speech decoder's low-rank adapters (asr_adapt.py); 0: pretrained decoder
    asr_rank: int = 8
    asr_lr: float = 1e-3


@dataclass
class Trained:
    heads: dict[str, MLPHead]
    stats: dict[str, tuple[np.ndarray, np.ndarray]]  # task -> (mean, std) of its inputs
    curves: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    best_epoch: dict[str, int] = field(default_factory=dict)  # per task
    best_score: float = float("-inf")  # the "score" of the best epoch (all tasks together)
    val_history: list[dict[str, float]] = field(default_factory=list)
    tops: dict[str, TopLayers] = field(default_factory=dict)  # task -> fine-tuned backbone layers

    def features(self, task: str, x: np.ndarray) -> np.ndarray:
        """Backbone features of a task's inputs: the inputs themselves, or its fine-tuned top layers' output."""
        return x if task not in self.tops else self.tops[task].features(x)

    def project(self, task: str, x: np.ndarray) -> np.ndarray:
        mean, std = self.stats[task]
        head = self.heads[task].eval()
        z = ((self.features(task, x) - mean) / std).astype(np.float32)
        with torch.inference_mode():
            return F.normalize(head(torch.from_numpy(z).to(_device(head))), dim=-1).cpu().numpy()

    def export(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for task, head in self.heads.items():
            out.update(head.export(task))
            out[f"{task}.mean"], out[f"{task}.std"] = (a.astype(np.float32) for a in self.stats[task])
        for task, top in self.tops.items():
            out.update({f"{PREFIX}.{task}.{k}": v for k, v in top.export().items()})
        return out


def _device(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(0).astype(np.float32), (x.std(0) + 1e-6).astype(np.float32)


def train(tasks: list[PairTask], weights: dict[str, float], cfg: TrainConfig,
          validate: Callable[[Trained], dict[str, float]] | None = None, progress: bool = True,
          device: str = "cpu") -> Trained:
    """Train one head per task. ``weights`` = the loss weight of each task (λ and 1−λ);
    ``validate`` returns metrics; "score/<task>" picks the best epoch of that task's head ("score" when a
    task has no own key). Tasks with ``top`` layers train them too, at ``cfg.backbone_lr``."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    tops = {t.name: t.top.to(device) for t in tasks if t.top is not None}
    # Standardisation is fixed from the pretrained features: a fine-tuned top keeps feeding the head in that frame.
    stats = {t.name: _standardise(t.inputs if t.top is None else t.top.features(t.inputs)) for t in tasks}
    xs = {t.name: torch.from_numpy(t.inputs if t.top is not None else
                                   ((t.inputs - stats[t.name][0]) / stats[t.name][1]).astype(np.float32)).to(device)
          for t in tasks}
    frame = {name: tuple(torch.from_numpy(a).to(device) for a in stats[name]) for name in tops}
    out_dim = tasks[0].targets[0].shape[1]
    heads = {t.name: MLPHead(t.inputs.shape[1] if t.top is None else len(stats[t.name][0]), out_dim, cfg.hidden,
                             cfg.depth, cfg.dropout).to(device) for t in tasks}
    scales = {t.name: LogitScale().to(device) for t in tasks}
    groups = [{"params": [p for m in (*heads.values(), *scales.values()) for p in m.parameters()], "lr": cfg.lr}]
    if tops:
        groups.append({"params": [p for top in tops.values() for p in top.trainable()], "lr": cfg.backbone_lr})
    opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(math.ceil(len(t.inputs) / cfg.batch) for t in tasks)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, [g["lr"] for g in groups], total_steps=cfg.epochs * steps_per_epoch,
                                                pct_start=0.1)
    result = Trained(heads, stats, {f"train loss ({t.name})": [] for t in tasks}, tops=tops)
    orders = {t.name: np.array([], dtype=int) for t in tasks}
    best_state: dict[str, dict] = {}
    best_top: dict[str, dict] = {}
    best_task = {t.name: float("-inf") for t in tasks}
    step = 0
    bar = tqdm(total=cfg.epochs, desc="training heads" + (" + backbone top" if tops else ""), unit="epoch",
               disable=not progress)
    for epoch in range(1, cfg.epochs + 1):
        for m in heads.values():
            m.train()
        sums = {t.name: 0.0 for t in tasks}
        for _ in range(steps_per_epoch):
            total = torch.zeros((), device=device)
            for t in tasks:
                if len(orders[t.name]) < cfg.batch:  # cycle through shuffled epochs of the smaller task
                    orders[t.name] = np.concatenate([orders[t.name], rng.permutation(len(t.inputs))])
                idx, orders[t.name] = orders[t.name][: cfg.batch], orders[t.name][cfg.batch :]
                target = torch.from_numpy(np.stack([t.targets[i][rng.integers(len(t.targets[i]))] for i in idx])).to(device)
                x = xs[t.name][torch.from_numpy(idx).to(device)]
                if t.name in tops:
                    mean, std = frame[t.name]
                    x = (tops[t.name](x) - mean) / std
                out = F.normalize(heads[t.name](x), dim=-1)
                loss = info_nce(out, target, scales[t.name](), torch.from_numpy(t.groups[idx]).to(device))
                sums[t.name] += loss.item()
                total = total + weights[t.name] * loss
            opt.zero_grad()
            total.backward()
            opt.step()
            sched.step()
            step += 1
        for t in tasks:
            result.curves[f"train loss ({t.name})"].append((epoch, sums[t.name] / steps_per_epoch))
        if validate is not None:
            for m in heads.values():
                m.eval()
            metrics = validate(result)
            result.val_history.append({"epoch": epoch, **metrics})
            for k, v in metrics.items():
                result.curves.setdefault(f"val {k}", []).append((epoch, v))
            result.best_score = max(result.best_score, metrics["score"])
            for name, head in heads.items():
                score = metrics.get(f"score/{name}", metrics["score"])
                if score > best_task[name]:
                    best_task[name], result.best_epoch[name] = score, epoch
                    best_state[name] = copy.deepcopy(head.state_dict())
                    if name in tops:  # the backbone layers belong to the head's epoch
                        best_top[name] = {k: p.detach().clone() for k, p in tops[name].named_parameters() if p.requires_grad}
            bar.set_postfix(score=f"{metrics['score']:.3f}", best=result.best_epoch)
        bar.update(1)
    bar.close()
    for k, state in best_state.items():
        heads[k].load_state_dict(state)
    for k, state in best_top.items():
        tops[k].load_state_dict(state, strict=False)
    for m in heads.values():
        m.eval()
    return result
