"""The speech encoder's full output per clip (Whisper: 1500 frames x 384, float16), cached on disk for
training the decoder's adapters (``asr_adapt.py``): the frozen encoder runs once per clip, ever.

Files ``states-<key>-<chunk>.npy`` of ``CHUNK`` clips each, named by a hash of (encoder, clip keys) as the
feature caches are (``features.cache_key``); each written atomically, so an interrupted run keeps the chunks
it finished. 1.15 MB per clip: the 2,317 training clips take 2.7 GB.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..evaluation.report import _atomic_write as atomic_write
from .features import cache_key

CHUNK = 100


class StateCache:
    def __init__(self, encoder, folder: Path, batch: int = 10) -> None:
        self.encoder, self.folder, self.batch = encoder, Path(folder), batch

    def get(self, paths: Sequence[Path], desc: str = "speech encoder states") -> np.ndarray:
        """(N, frames, d) float16 encoder outputs of the audio files ``paths``, in order."""
        key = cache_key(self.encoder, "states", [f"{Path(p).parent.name}/{Path(p).name}" for p in paths])
        self.folder.mkdir(parents=True, exist_ok=True)
        chunks = []
        with tqdm(total=len(paths), desc=desc, unit="clip") as bar:
            for c in range(0, len(paths), CHUNK):
                f = self.folder / f"states-{key}-{c // CHUNK:03d}.npy"
                if not f.exists():
                    _save(f, self._encode(paths[c : c + CHUNK]))
                chunks.append(np.load(f, mmap_mode="r"))
                bar.update(min(CHUNK, len(paths) - c))
        return np.concatenate(chunks) if chunks else np.zeros((0, 0, 0), np.float16)

    def _encode(self, paths: Sequence[Path]) -> np.ndarray:
        import torch

        from ..media import MediaLimits, decode_audio

        waves = [decode_audio(Path(p).read_bytes(), MediaLimits()) for p in paths]
        out = []
        with torch.inference_mode():
            for i in range(0, len(waves), self.batch):
                out.append(self.encoder.encoder_states(self.encoder.prepare(waves[i : i + self.batch])).half().cpu().numpy())
        return np.concatenate(out)


def _save(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write(path, buf.getvalue())
