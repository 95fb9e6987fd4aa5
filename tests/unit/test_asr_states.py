"""The encoder-output cache that decoder adapters train from (align/asr_states.py), with a fake encoder:
rows in the order asked, each clip its own length, chunks written once and reused, a key per (encoder, clips)."""
from __future__ import annotations

import numpy as np
import soundfile as sf
import torch

from xmodal_server.align import asr_states
from xmodal_server.encoders.base import SPEECH, EncoderInfo


class FakeBatch:
    def __init__(self, waves):
        self.waves = waves
        self.lengths = [1 + len(w) // 3200 for w in waves]  # frames per clip: one per 0.2 s, and one


class FakeStatesEncoder:
    """Stands in for Whisper: the "state" of a clip is its length and peak (x 2), repeated over its frames,
    zero-padded to the batch's longest as Whisper's are."""

    def __init__(self, name: str = "fake-speech") -> None:
        self.info = EncoderInfo(name, SPEECH, "fake", 2, "nowhere")
        self.calls = 0

    def prepare(self, waves):
        return FakeBatch(waves)

    def encoder_states(self, batch) -> torch.Tensor:
        self.calls += 1
        out = torch.zeros(len(batch.waves), max(batch.lengths), 2)
        for i, (w, n) in enumerate(zip(batch.waves, batch.lengths)):
            out[i, :n] = torch.tensor([len(w) / 16000, float(np.abs(w).max())])
        return out


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
    assert len(got) == 10 and all(g.dtype == np.float16 for g in got)
    assert [g.shape for g in got] == [(1 + (i + 1) // 2, 2) for i in range(10)]  # each clip's own frames, no padding
    np.testing.assert_allclose([g[-1, 0] for g in got], [0.1 * (i + 1) for i in range(10)], rtol=1e-3)
    assert len(list((tmp_path / "states").glob("states-*.npz"))) == 3  # 4 + 4 + 2 clips
    assert not list((tmp_path / "states").glob("*.tmp"))
    calls = enc.calls
    for a, b in zip(cache.get(paths), got):  # all from disk
        np.testing.assert_array_equal(a, b)
    assert enc.calls == calls
    other = asr_states.StateCache(FakeStatesEncoder("another-model"), tmp_path / "states").get(paths[:2])
    assert len(other) == 2 and len(list((tmp_path / "states").glob("states-*.npz"))) == 4  # its own key
