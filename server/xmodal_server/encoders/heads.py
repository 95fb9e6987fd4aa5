"""Projection heads: how each modality's backbone output reaches the shared space, read from a
versioned checkpoint.

A checkpoint is a directory with ``manifest.json`` (and, for trained heads, ``heads.safetensors``)::

    {"format": 1, "id": "zero-shot-v0", "aligned": false, "note": "...",
     "heads": {"text": {"type": "identity"}, "image": {"type": "conse", "top": 10},
               "speech": {"type": "transcribe"}},
     "metrics": {}}

Head types:
- ``identity``: backbone features as they are (text: the text space is the pivot of the shared space).
- ``mlp``: trained layers ``<modality>.l<i>.weight/bias`` from heads.safetensors, GELU between them
  (one layer = a linear head); inputs standardised first when ``<modality>.mean/std`` are present.
  Images may also mix in ConSE: ``"conse_weight": a`` gives ``normalise((1-a)·mlp + a·conse)``, and
  ``"input": "features+conse"`` feeds the ConSE vector to the MLP beside the backbone features.
- ``conse`` (images): the classifier's top-``top`` ImageNet probabilities weight the text-space
  embeddings of the class names (Norouzi et al. 2014, ConSE): a zero-shot text-space vector.
- ``transcribe`` (speech): the speech model transcribes; the text path embeds the transcript.
- ``fused`` (speech): both paths of the same model: ``normalise(w·direct + (1-w)·transcript vector)``
  where direct is the ``mlp`` head on the speech features, ``w`` = ``direct_weight``; requests may ask
  for ``direct``, ``transcribe`` or ``fused`` and override ``w``.

Fine-tuned backbone layers (``xmodal align --unfreeze-top N``) are stored beside the heads as
``backbone.<modality>.<name in the backbone's state dict>``, and the modality's head spec records them:
``"finetuned": {"top": N, "layers": ["_blocks.15", "_conv_head", "_bn1"]}``. The encoder loads them over
its pretrained weights (``load_finetuned``); a checkpoint without them serves the pretrained backbone.

The built-in checkpoint uses no trained weights, so it reports ``aligned: false``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInput
from .base import IMAGE, MODALITIES, SPEECH, TEXT

FORMAT = 1
BACKBONE = "backbone"  # key prefix of fine-tuned backbone weights (encoders/finetune.py)
HEAD_TYPES = {TEXT: {"identity", "mlp"}, IMAGE: {"mlp", "conse"}, SPEECH: {"mlp", "transcribe", "fused"}}

BUILTIN = {
    "format": FORMAT,
    "id": "zero-shot-v0",
    "aligned": False,
    "note": (
        "No trained projection heads: text is the pivot space (identity), images reach it by ConSE over "
        "ImageNet class names, speech by transcription. Zero-shot only; cross-modal quality not measured."
    ),
    "heads": {TEXT: {"type": "identity"}, IMAGE: {"type": "conse", "top": 10}, SPEECH: {"type": "transcribe"}},
    "metrics": {},
}


@dataclass(frozen=True)
class Checkpoint:
    id: str
    aligned: bool
    note: str
    heads: dict[str, dict[str, Any]]
    metrics: dict[str, str] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    path: str = "builtin"

    def head_type(self, modality: str) -> str:
        return self.heads[modality]["type"]

    def backbone_weights(self, modality: str) -> dict[str, np.ndarray]:
        """Fine-tuned backbone layers of ``modality`` by their names in the backbone (empty: none)."""
        prefix = f"{BACKBONE}.{modality}."
        return {k[len(prefix):]: v for k, v in self.weights.items() if k.startswith(prefix)}

    def describe(self, modality: str) -> str:
        spec = self.heads[modality]
        return spec["type"] + (f"(top={spec['top']})" if "top" in spec else "")


SHIPPED_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


def default_checkpoint(profile: str) -> str | None:
    """The checkpoint shipped in the package for ``profile`` (trained by ``xmodal align`` and committed),
    or None where none ships (then the built-in zero-shot heads are used)."""
    path = SHIPPED_DIR / profile
    return str(path) if (path / "manifest.json").exists() else None


def load_checkpoint(path: str | None) -> Checkpoint:
    """``path``: a checkpoint directory; None, "" or "builtin": the zero-shot heads."""
    if not path or path == "builtin":
        return _parse(BUILTIN, {}, "builtin")
    folder = Path(path)
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InvalidInput(f"checkpoint {path}: cannot read manifest.json ({e})") from None
    weights: dict[str, np.ndarray] = {}
    if (folder / "heads.safetensors").exists():
        from safetensors.numpy import load_file

        weights = load_file(str(folder / "heads.safetensors"))
    return _parse(manifest, weights, str(folder))


def _parse(manifest: dict, weights: dict[str, np.ndarray], where: str) -> Checkpoint:
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"checkpoint {where}: format {manifest.get('format')!r} unsupported (want {FORMAT})")
    heads = manifest.get("heads", {})
    for modality in MODALITIES:
        kind = heads.get(modality, {}).get("type")
        if kind not in HEAD_TYPES[modality]:
            raise InvalidInput(
                f"checkpoint {where}: head for {modality} is {kind!r}; expected one of {sorted(HEAD_TYPES[modality])}"
            )
        if kind in ("mlp", "fused") and f"{modality}.l0.weight" not in weights:
            raise InvalidInput(f"checkpoint {where}: {kind} {modality} head needs '{modality}.l0.weight' in heads.safetensors")
        tuned = any(k.startswith(f"{BACKBONE}.{modality}.") for k in weights)
        if tuned != ("finetuned" in heads[modality]):
            raise InvalidInput(f"checkpoint {where}: the manifest's {modality} head and heads.safetensors disagree on "
                               f"fine-tuned backbone layers ('finetuned' in the manifest: {not tuned}; "
                               f"'{BACKBONE}.{modality}.*' weights: {tuned})")
    stray = sorted({k.split(".")[1] for k in weights if k.startswith(f"{BACKBONE}.")} - set(MODALITIES))
    if stray:
        raise InvalidInput(f"checkpoint {where}: backbone weights for unknown modalities {stray}")
    return Checkpoint(
        id=str(manifest["id"]),
        aligned=bool(manifest.get("aligned", False)),
        note=str(manifest.get("note", "")),
        heads=heads,
        metrics={k: str(v) for k, v in manifest.get("metrics", {}).items()},
        weights={k: np.asarray(v, dtype=np.float32) for k, v in weights.items()},
        path=where,
    )


def mlp(checkpoint: Checkpoint, modality: str, x: np.ndarray) -> np.ndarray:
    """Run a trained head (see module doc) on a batch of features."""
    import torch
    import torch.nn.functional as F

    w = checkpoint.weights
    if x.shape[1] != w[f"{modality}.l0.weight"].shape[1]:
        raise InvalidInput(
            f"checkpoint {checkpoint.id}: {modality} head expects {w[f'{modality}.l0.weight'].shape[1]}-d inputs, "
            f"got {x.shape[1]}; it was trained for another profile"
        )
    if f"{modality}.mean" in w:
        x = (x - w[f"{modality}.mean"]) / w[f"{modality}.std"]
    h = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    i = 0
    with torch.inference_mode():
        while f"{modality}.l{i}.weight" in w:
            if i:
                h = F.gelu(h)
            h = F.linear(h, torch.from_numpy(w[f"{modality}.l{i}.weight"]), torch.from_numpy(w[f"{modality}.l{i}.bias"]))
            i += 1
    return h.numpy()


# ConSE vectors are unit-norm while standardised backbone features have unit variance per dimension:
# scaling keeps the two inputs of a "features+conse" head on comparable scales (training uses the same).
CONSE_INPUT_SCALE = 10.0


def conse(probs: np.ndarray, class_vectors: np.ndarray, top: int) -> np.ndarray:
    """Probability-weighted mean of the text vectors of the ``top`` most likely classes (ConSE)."""
    idx = np.argsort(-probs, axis=1)[:, :top]
    weights = np.take_along_axis(probs, idx, axis=1)
    weights = weights / np.maximum(weights.sum(1, keepdims=True), 1e-12)
    return l2_normalise(np.einsum("nk,nkd->nd", weights, class_vectors[idx]))


def uses_conse(checkpoint: Checkpoint) -> bool:
    spec = checkpoint.heads[IMAGE]
    return spec["type"] == "conse" or float(spec.get("conse_weight", 0)) > 0 or spec.get("input") == "features+conse"


def image_vectors(checkpoint: Checkpoint, features: np.ndarray, class_probs: np.ndarray | None,
                  class_vectors: np.ndarray | None) -> np.ndarray:
    """Backbone outputs -> unit vectors in the shared space, for every image head type.
    The server and ``xmodal eval`` both call this, so what is measured is what is served."""
    spec = checkpoint.heads[IMAGE]
    c = None
    if uses_conse(checkpoint):
        if class_probs is None or class_vectors is None:
            raise ValueError("this image head needs class probabilities and class-name vectors (ConSE)")
        c = conse(class_probs, class_vectors, int(spec.get("top", 10)))
    if spec["type"] == "conse":
        return c  # type: ignore[return-value]
    x = np.concatenate([features, c * CONSE_INPUT_SCALE], 1) if spec.get("input") == "features+conse" else features
    v = l2_normalise(mlp(checkpoint, IMAGE, x))
    a = float(spec.get("conse_weight", 0.0))
    return l2_normalise((1 - a) * v + a * c) if a > 0 else v


def speech_vectors(checkpoint: Checkpoint, features: np.ndarray, transcript_vectors: np.ndarray | None,
                   mode: str, direct_weight: float | None = None) -> np.ndarray:
    """Speech features (+ the text vectors of their transcripts) -> unit vectors, per mode."""
    if mode == "transcribe":
        return transcript_vectors  # type: ignore[return-value]
    direct = l2_normalise(mlp(checkpoint, SPEECH, features))
    if mode == "direct":
        return direct
    w = float(checkpoint.heads[SPEECH].get("direct_weight", 0.5)) if direct_weight is None else direct_weight
    return l2_normalise(w * direct + (1 - w) * transcript_vectors)


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)
