"""Backbones + projection heads = vectors in the shared space.

This is the only place that knows how each modality reaches the space; the API and the index just
see L2-normalised float32 rows. Calls are synchronous and CPU/GPU-bound: the app runs them on its
model worker thread, never on the event loop.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .encoders.base import IMAGE, SPEECH, TEXT, Encoder, ImageEncoder, SpeechEncoder, TextEncoder
from .encoders.heads import Checkpoint, l2_normalise, mlp
from .errors import InvalidInput

SPEECH_MODES = ("direct", "transcribe", "fused")

log = logging.getLogger(__name__)

# ConSE vectors are unit-norm while standardised backbone features have unit variance per dimension:
# scaling keeps the two inputs of a "features+conse" head on comparable scales (training uses the same).
CONSE_INPUT_SCALE = 10.0


@dataclass
class Embedded:
    vectors: np.ndarray  # (N, shared_dim) float32, unit rows
    truncated: list[bool] | None = None
    transcripts: list[str] | None = None


class Embedder:
    def __init__(self, profile: str, encoders: dict[str, Encoder], checkpoint: Checkpoint, cache_dir: Path | None):
        self.profile = profile
        self.encoders = encoders
        self.checkpoint = checkpoint
        self.text: TextEncoder = encoders[TEXT]  # type: ignore[assignment]
        self.image: ImageEncoder = encoders[IMAGE]  # type: ignore[assignment]
        self.speech: SpeechEncoder = encoders[SPEECH]  # type: ignore[assignment]
        if checkpoint.head_type(SPEECH) in ("transcribe", "fused") and not self.speech.can_transcribe:
            raise ValueError(f"checkpoint {checkpoint.id} transcribes speech, but {self.speech.info.name} cannot")
        self.shared_dim = self.embed_texts(["dimension probe"]).vectors.shape[1]
        self._class_vectors: np.ndarray | None = None
        if checkpoint.head_type(IMAGE) == "conse":
            self._class_vectors = self._conse_matrix(cache_dir)

    @property
    def space_id(self) -> str:
        # Vectors compare only within one profile and checkpoint; collections remember this id.
        return f"{self.profile}/{self.checkpoint.id}"

    def warmup(self) -> None:
        for encoder in self.encoders.values():
            encoder.warmup()

    @property
    def speech_modes(self) -> tuple[str, ...]:
        """Speech modes this checkpoint can serve; the first is the default."""
        kind = self.checkpoint.head_type(SPEECH)
        if kind == "fused":
            default = self.checkpoint.heads[SPEECH].get("default_mode", "fused")
            return (default, *[m for m in SPEECH_MODES if m != default])
        return ("direct",) if kind == "mlp" else ("transcribe",)

    def embed_texts(self, texts: Sequence[str]) -> Embedded:
        out = self.text.encode(texts)
        x = out.features
        if self.checkpoint.head_type(TEXT) == "mlp":
            x = mlp(self.checkpoint, TEXT, x)
        return Embedded(l2_normalise(x), truncated=out.truncated)

    def embed_images(self, images: Sequence) -> Embedded:
        out = self.image.encode(images)
        spec = self.checkpoint.heads[IMAGE]
        if spec["type"] == "conse":
            return Embedded(self._conse(out.class_probs))
        a = float(spec.get("conse_weight", 0.0))
        needs_conse = a > 0 or spec.get("input") == "features+conse"
        conse = self._conse(out.class_probs) if needs_conse else None
        x = np.concatenate([out.features, conse * CONSE_INPUT_SCALE], 1) if spec.get("input") == "features+conse" else out.features
        v = l2_normalise(mlp(self.checkpoint, IMAGE, x))
        return Embedded(l2_normalise((1 - a) * v + a * conse) if a > 0 else v)

    def embed_speech(self, waves: Sequence[np.ndarray], mode: str = "", direct_weight: float | None = None) -> Embedded:
        modes = self.speech_modes
        mode = mode or modes[0]
        if mode not in modes:
            raise InvalidInput(
                f"speech mode {mode!r} is not available with checkpoint {self.checkpoint.id}; use one of {', '.join(modes)}"
            )
        if direct_weight is not None and not 0.0 <= direct_weight <= 1.0:
            raise InvalidInput(f"direct_weight={direct_weight} must be within [0, 1]")
        transcribe = mode in ("transcribe", "fused")
        out = self.speech.encode(waves, transcribe=transcribe)
        transcripts = [t.strip() for t in (out.transcripts or [])] if transcribe else None
        # Silence transcribes to "", which has no meaning; embed a neutral token rather than fail.
        cascade = self.embed_texts([t or "." for t in transcripts]).vectors if transcripts is not None else None
        if mode == "transcribe":
            return Embedded(cascade, transcripts=transcripts)
        direct = l2_normalise(mlp(self.checkpoint, SPEECH, out.features))
        if mode == "direct":
            return Embedded(direct)
        w = float(self.checkpoint.heads[SPEECH].get("direct_weight", 0.5)) if direct_weight is None else direct_weight
        return Embedded(l2_normalise(w * direct + (1 - w) * cascade), transcripts=transcripts)

    # -- ConSE ------------------------------------------------------------------------------------
    def _conse(self, probs: np.ndarray | None) -> np.ndarray:
        if probs is None or self._class_vectors is None:
            raise ValueError(f"{self.image.info.name} gives no class probabilities; ConSE needs them")
        top = int(self.checkpoint.heads[IMAGE].get("top", 10))
        idx = np.argsort(-probs, axis=1)[:, :top]
        weights = np.take_along_axis(probs, idx, axis=1)
        weights = weights / np.maximum(weights.sum(1, keepdims=True), 1e-12)
        mixed = np.einsum("nk,nkd->nd", weights, self._class_vectors[idx])
        return l2_normalise(mixed)

    def _conse_matrix(self, cache_dir: Path | None) -> np.ndarray:
        names = list(self.image.class_names)
        if not names:
            raise ValueError(f"{self.image.info.name} has no class names; ConSE needs them")
        key = hashlib.sha256(
            "\n".join([self.space_id, self.text.info.name, self.text.info.source, *names]).encode()
        ).hexdigest()[:16]
        path = cache_dir / f"conse-{key}.npy" if cache_dir else None
        if path and path.exists():
            matrix = np.load(path)
            if matrix.shape == (len(names), self.shared_dim):
                return matrix
            log.warning("ignoring ConSE cache %s with shape %s", path, matrix.shape)
        log.info("embedding %d class names for ConSE (cached afterwards)", len(names))
        matrix = np.concatenate(
            [self.embed_texts(names[i : i + 128]).vectors for i in range(0, len(names), 128)]
        )
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as f:
                np.save(f, matrix)
            os.replace(tmp, path)  # atomic: a crash never leaves a half-written cache
        return matrix
