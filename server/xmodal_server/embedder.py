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
from .encoders.finetune import load_backbone_weights
from .encoders.heads import Checkpoint, image_vectors, l2_normalise, mlp, speech_vectors, uses_conse
from .errors import InvalidInput

SPEECH_MODES = ("direct", "transcribe", "fused")

log = logging.getLogger(__name__)


@dataclass
class Embedded:
    vectors: np.ndarray  # (N, shared_dim) float32, unit rows
    truncated: list[bool] | None = None
    transcripts: list[str] | None = None
    # SearchBySpeech re-ranking: log-probability per token of each transcript under the speech model.
    transcript_logprobs: list[float] | None = None
    # keep_state=True: the speech encoder's state per clip, for re-ranking without a second encoder pass.
    states: list | None = None


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
        for modality in (IMAGE, SPEECH):
            self._load_finetuned(modality)
        self.shared_dim = self.embed_texts(["dimension probe"]).vectors.shape[1]
        self._class_vectors = self._conse_matrix(cache_dir) if uses_conse(checkpoint) else None

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

    # Two steps, as the service runs them: ``prepare`` (CPU work per item, on the service's CPU pool) and
    # ``embed_prepared`` (collate + forward passes + heads, on the model thread). ``embed_texts`` / ``_images`` /
    # ``_speech`` run both, for callers without a pool (align, eval, benchmarks); the vectors are the same.
    def prepare(self, kind: str, items: Sequence) -> list:
        """Per item, the encoder's CPU preparation (tokens, normalised pixels, log-mel): thread-safe."""
        return self.encoders[kind].prepare_items(items)

    def embed_prepared(self, kind: str, prepared: Sequence, mode: str = "", direct_weight: float | None = None,
                       keep_state: bool = False) -> Embedded:
        """Prepared items (``prepare``, possibly of several requests) -> vectors; the speech options only for speech."""
        if kind == TEXT:
            out = self.text.forward_items(prepared)
            x = out.features
            if self.checkpoint.head_type(TEXT) == "mlp":
                x = mlp(self.checkpoint, TEXT, x)
            return Embedded(l2_normalise(x), truncated=out.truncated)
        if kind == IMAGE:
            out = self.image.forward_items(prepared)
            return Embedded(image_vectors(self.checkpoint, out.features, out.class_probs, self._class_vectors))
        if kind != SPEECH:
            raise InvalidInput(f"unknown modality {kind!r}")
        mode = self.check_speech_options(mode, direct_weight)
        transcribe = mode in ("transcribe", "fused")
        out = self.speech.forward_items(prepared, transcribe=transcribe, keep_state=keep_state)
        transcripts = [t.strip() for t in (out.transcripts or [])] if transcribe else None
        # Silence transcribes to "", which has no meaning; embed a neutral token rather than fail. The transcripts
        # exist only now, so they are the one input tokenised on the model thread (a few short strings, ~25 us each).
        cascade = self.embed_texts([t or "." for t in transcripts]).vectors if transcripts is not None else None
        return Embedded(speech_vectors(self.checkpoint, out.features, cascade, mode, direct_weight), transcripts=transcripts,
                        states=out.states)

    def check_speech_options(self, mode: str = "", direct_weight: float | None = None) -> str:
        """The mode a speech batch runs in (empty: the checkpoint's default); InvalidInput if not servable."""
        if direct_weight is not None and not 0.0 <= direct_weight <= 1.0:
            raise InvalidInput(f"direct_weight={direct_weight} must be within [0, 1]")
        modes = self.speech_modes
        mode = mode or modes[0]
        if mode not in modes:
            raise InvalidInput(
                f"speech mode {mode!r} is not available with checkpoint {self.checkpoint.id}; use one of {', '.join(modes)}"
            )
        return mode

    def embed_texts(self, texts: Sequence[str]) -> Embedded:
        return self.embed_prepared(TEXT, self.prepare(TEXT, texts))

    def embed_images(self, images: Sequence) -> Embedded:
        return self.embed_prepared(IMAGE, self.prepare(IMAGE, images))

    def embed_speech(self, waves: Sequence[np.ndarray], mode: str = "", direct_weight: float | None = None,
                     keep_state: bool = False) -> Embedded:
        mode = self.check_speech_options(mode, direct_weight)  # before the log-mel work, as before
        return self.embed_prepared(SPEECH, self.prepare(SPEECH, waves), mode, direct_weight, keep_state)

    def _load_finetuned(self, modality: str) -> None:
        """The checkpoint's fine-tuned backbone layers over the pretrained ones (none: the pretrained backbone,
        which also undoes layers an earlier checkpoint loaded into the same encoder)."""
        load_backbone_weights(self.encoders[modality], self.checkpoint.backbone_weights(modality), modality,
                              f"{self.checkpoint.id} ({self.checkpoint.path})")

    # -- ConSE ------------------------------------------------------------------------------------
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
