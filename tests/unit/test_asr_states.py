"""The encoder-output cache that decoder adapters train from (align/asr_states.py), with a fake encoder:
rows in the order asked, chunks written once and reused, a key per (encoder, clips)."""
from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from xmodal_server.align import asr_states
from xmodal_server.encoders.base import SPEECH, EncoderInfo


class FakeStatesEncoder:
    """Stands in for Whisper: the "state" of a clip is its length and peak, repeated over 3 frames x 2."""

    def __init__(self, name: str = "fake-speech") -> None:
        self.info = EncoderInfo(name, SPEECH, "fake", 2, "nowhere")
        self.calls = 0

    def prepare(self, waves):
        return waves

    def encoder_states(self, waves) -> torch.Tensor:
        self.calls += 1
        rows = [[len(w) / 16000, float(np.abs(w).max())] for w in waves]
        return torch.tensor(rows, dtype=torch.float32)[:, None, :].repeat(1, 3, 1)


def _clips(folder, n):
    paths = []
    for i in range(n):
        p = folder / f"clip{i}.wav"
        sf.write(p, np.full(1600 * (i + 1), 0.1 * (i % 5 + 1), np.float32), 16000)
        paths.append(p)
    return paths


def test_rows_in_order_chunked_and_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(asr_states, "CHUNK", 4)
    paths = _clips(tmp_path, 10)
    enc = FakeStatesEncoder()
    cache = asr_states.StateCache(enc, tmp_path / "states", batch=3)
    got = cache.get(paths)
    assert got.shape == (10, 3, 2) and got.dtype == np.float16
    np.testing.assert_allclose(got[:, 0, 0], [0.1 * (i + 1) for i in range(10)], rtol=1e-3)
    assert len(list((tmp_path / "states").glob("states-*.npy"))) == 3  # 4 + 4 + 2 clips
    assert not list((tmp_path / "states").glob("*.tmp"))
    calls = enc.calls
    np.testing.assert_array_equal(cache.get(paths), got)  # all from disk
    assert enc.calls == calls
    other = asr_states.StateCache(FakeStatesEncoder("another-model"), tmp_path / "states").get(paths[:2])
    assert len(other) == 2 and len(list((tmp_path / "states").glob("states-*.npy"))) == 4  # its own key
