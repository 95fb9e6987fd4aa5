"""The speech encoder's output per clip (Whisper: its own frames x 384, float16), cached on disk for training
the decoder's adapters (``asr_adapt.py``): the frozen encoder runs once per clip, ever.

Files ``states-<key>-<chunk>.npz`` of ``CHUNK`` clips each (their outputs end to end, and each clip's number of
frames), named by a hash of (encoder, what it computes, clip keys) as the feature caches are
(``features.cache_key``); each written atomically, so an interrupted run keeps the chunks it finished. About
0.15 MB per clip (a 3 s clip is encoded over 200 frames, not Whisper's 1,500).
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

    def get(self, paths: Sequence[Path], desc: str = "speech encoder states") -> list[np.ndarray]:
        """Per audio file of ``paths``, in order, its encoder output (frames, d) as float16."""
        kind = f"states\0{self.encoder.info.architecture}"
        key = cache_key(self.encoder, kind, [f"{Path(p).parent.name}/{Path(p).name}" for p in paths])
        self.folder.mkdir(parents=True, exist_ok=True)
        out: list[np.ndarray] = []
        with tqdm(total=len(paths), desc=desc, unit="clip") as bar:
            for c in range(0, len(paths), CHUNK):
                f = self.folder / f"states-{key}-{c // CHUNK:03d}.npz"
                if not f.exists():
                    _save(f, self._encode(paths[c : c + CHUNK]))
                with np.load(f, allow_pickle=False) as z:
                    out += np.split(z["states"], np.cumsum(z["lengths"])[:-1])
                bar.update(min(CHUNK, len(paths) - c))
        return out

    def _encode(self, paths: Sequence[Path]) -> dict[str, np.ndarray]:
        import torch

        from ..media import MediaLimits, decode_audio

        waves = [decode_audio(Path(p).read_bytes(), MediaLimits()) for p in paths]
        rows, lengths = [], []
        with torch.inference_mode():
            for i in range(0, len(waves), self.batch):
                batch = self.encoder.prepare(waves[i : i + self.batch])
                hidden = self.encoder.encoder_states(batch).half().cpu().numpy()
                rows += [h[:n] for h, n in zip(hidden, batch.lengths)]
                lengths += batch.lengths
        return {"states": np.concatenate(rows), "lengths": np.array(lengths, np.int64)}


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write(path, buf.getvalue())
