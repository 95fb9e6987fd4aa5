"""Projection heads: how each modality's backbone output reaches the shared space, read from a
versioned checkpoint.

A checkpoint is a directory with ``manifest.json`` (and, for trained heads, ``heads.safetensors``)::

    {"format": 1, "id": "zero-shot-v0", "aligned": false, "note": "...",
     "heads": {"text": {"type": "identity"}, "image": {"type": "conse", "top": 10},
               "speech": {"type": "transcribe"}},
     "metrics": {}}

Head types:
- ``identity``: backbone features as they are (text: the text space is the pivot of the shared space).
- ``linear``: ``x @ W.T + b`` with ``<modality>.weight`` / ``<modality>.bias`` from heads.safetensors.
- ``conse`` (images): the classifier's top-``top`` ImageNet probabilities weight the text-space
  embeddings of the class names (Norouzi et al. 2014, ConSE): a zero-shot text-space vector.
- ``transcribe`` (speech): the speech model transcribes; the text path embeds the transcript.

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
HEAD_TYPES = {TEXT: {"identity", "linear"}, IMAGE: {"linear", "conse"}, SPEECH: {"linear", "transcribe"}}

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

    def describe(self, modality: str) -> str:
        spec = self.heads[modality]
        return spec["type"] + (f"(top={spec['top']})" if "top" in spec else "")


def load_checkpoint(path: str | None) -> Checkpoint:
    if not path:
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
        if kind == "linear" and f"{modality}.weight" not in weights:
            raise InvalidInput(f"checkpoint {where}: linear {modality} head needs '{modality}.weight' in heads.safetensors")
    return Checkpoint(
        id=str(manifest["id"]),
        aligned=bool(manifest.get("aligned", False)),
        note=str(manifest.get("note", "")),
        heads=heads,
        metrics={k: str(v) for k, v in manifest.get("metrics", {}).items()},
        weights={k: np.asarray(v, dtype=np.float32) for k, v in weights.items()},
        path=where,
    )


def linear(checkpoint: Checkpoint, modality: str, x: np.ndarray) -> np.ndarray:
    w = checkpoint.weights[f"{modality}.weight"]
    b = checkpoint.weights.get(f"{modality}.bias")
    if x.shape[1] != w.shape[1]:
        raise InvalidInput(
            f"checkpoint {checkpoint.id}: {modality} head expects {w.shape[1]}-d features, the encoder gives "
            f"{x.shape[1]}; it was trained for another profile"
        )
    y = x @ w.T
    return y + b if b is not None else y


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)
