"""Frozen-backbone features, computed once and cached on disk, so a retrain never re-encodes (and, for
``--unfreeze-top N``, the activations at the input of the top N layers, so an epoch runs only those).

Each cache file is an ``.npz`` named by a hash of (encoder name, weights source, item keys); a change of
model or data makes a new file, never a stale hit. Writes are atomic (temp file + ``os.replace``).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm

from ..encoders.base import Encoder


def cache_key(encoder: Encoder, kind: str, keys: Sequence[str]) -> str:
    h = hashlib.sha256()
    for part in (kind, encoder.info.name, encoder.info.source, *keys):
        h.update(part.encode("utf-8") + b"\0")
    return h.hexdigest()[:20]


def cached(path: Path, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return arrays


def _batched(items: Sequence, batch: int, desc: str):
    with tqdm(total=len(items), desc=desc, unit="item") as bar:
        for i in range(0, len(items), batch):
            chunk = items[i : i + batch]
            yield chunk
            bar.update(len(chunk))


def image_features(encoder: Encoder, keys: Sequence[str], pngs: Sequence[bytes], cache_dir: Path, batch: int = 64) -> dict[str, np.ndarray]:
    """{"features": (N, D), "class_probs": (N, 1000)} for encoded images (decoded like the server does)."""
    from ..media import MediaLimits, decode_image

    def compute():
        limits = MediaLimits()
        feats, probs = [], []
        for chunk in _batched(list(pngs), batch, f"{encoder.info.name} features"):
            out = encoder.encode([decode_image(p, limits) for p in chunk])
            feats.append(out.features)
            probs.append(out.class_probs)
        return {"features": np.concatenate(feats), "class_probs": np.concatenate(probs)}

    # Image features are cheap to recompute and their definition changed (pooled stages, letterboxing), so
    # the key names it, as the speech key does.
    kind = f"image\0{encoder.info.architecture}\0{encoder.info.feature_dim}"
    return cached(cache_dir / f"image-{cache_key(encoder, kind, keys)}.npz", compute)


def trunk_features(encoder: Encoder, n: int, keys: Sequence[str], pngs: Sequence[bytes], cache_dir: Path,
                   batch: int = 32) -> np.ndarray:
    """(N, D_trunk) rows at the input of the encoder's top ``n`` layers (``encoder.trunk``, see
    encoders/finetune.py), for images decoded like the server does. Stored as float32: the training path
    must compute what the server computes (tests/unit/test_finetune.py checks it to 1e-5)."""
    from ..media import MediaLimits, decode_image

    def compute():
        limits = MediaLimits()
        return {"trunk": np.concatenate([encoder.trunk(encoder.prepare([decode_image(p, limits) for p in chunk]), n)
                                         for chunk in _batched(list(pngs), batch, f"{encoder.info.name} trunk (top {n})")])}

    kind = f"trunk\0{encoder.info.architecture}\0top {n}"
    return cached(cache_dir / f"trunk-{cache_key(encoder, kind, keys)}.npz", compute)["trunk"]


def text_features(encoder: Encoder, texts: Sequence[str], cache_dir: Path, batch: int = 128) -> np.ndarray:
    def compute():
        return {"features": np.concatenate([encoder.encode(c).features for c in _batched(list(texts), batch, f"{encoder.info.name} features")])}

    return cached(cache_dir / f"text-{cache_key(encoder, 'text', texts)}.npz", compute)["features"]


def speech_features(encoder: Encoder, keys: Sequence[str], paths: Sequence[Path], cache_dir: Path,
                    batch: int = 16) -> dict[str, np.ndarray]:
    """{"features": (N, D) mean-pooled frames, "transcripts": (N,) str} for audio files, computed by the
    encoder's served path (decode, prepare, encode, greedy decoding), so the transcripts measured are the ones
    served. Cached per encoder, per what it computes (``info.architecture``) and per loaded decoder adapters."""
    from ..media import MediaLimits, decode_audio

    def compute():
        limits = MediaLimits()
        feats, texts = [], []
        for chunk in _batched(list(paths), batch, f"{encoder.info.name} features"):
            out = encoder.encode([decode_audio(Path(p).read_bytes(), limits) for p in chunk], transcribe=True)
            feats.append(out.features)
            texts.extend(out.transcripts or [""] * len(chunk))
        return {"features": np.concatenate(feats), "transcripts": np.array(texts, dtype=str)}

    kind = f"speech\0{encoder.info.architecture}"
    adapters = getattr(encoder, "decoder_adapters", None)
    if adapters is not None:  # align/asr_adapt.py: only the transcripts differ, but one pass computes both
        kind += f"\0decoder:{adapters}"
    return cached(cache_dir / f"speech-{cache_key(encoder, kind, keys)}.npz", compute)
