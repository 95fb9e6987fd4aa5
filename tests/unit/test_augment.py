"""Seeded sox augmentation of cached clips (align/augment.py): deterministic, cached, 16 kHz mono, clear errors."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from xmodal_server.align import augment
from xmodal_server.align.tts import SAMPLE_RATE, write_flac

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    """0.8 s of a voiced-speech-like signal: harmonics of a gliding 120-180 Hz pitch under syllable envelopes."""
    t = np.arange(int(0.8 * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = 120 + 60 * t / t[-1]
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = np.clip(np.sin(2 * np.pi * 3 * t), 0, None) ** 0.5
    return write_flac(tmp_path / "src" / "clip.flac", (0.3 * voiced * envelope).astype(np.float32))


def test_same_seed_same_bytes_and_audio_changes(clip, tmp_path):
    a, aug_a = augment.augment_clip(clip, tmp_path / "c1", seed=3)
    b, aug_b = augment.augment_clip(clip, tmp_path / "c2", seed=3)
    assert aug_a == aug_b and a.name == b.name
    assert a.read_bytes() == b.read_bytes()
    src, _ = sf.read(clip, dtype="float32")
    out, _ = sf.read(a, dtype="float32")
    assert out.shape != src.shape or not np.allclose(out, src, atol=1e-3)
    assert np.sqrt(np.mean(out**2)) > 0.01  # still audible, not silence


def test_rate_mono_and_speed_length(clip, tmp_path):
    path, aug = augment.augment_clip(clip, tmp_path / "cache", seed=0)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.format, info.subtype) == (SAMPLE_RATE, 1, "FLAC", "PCM_16")
    assert augment.SPEED_RANGE[0] <= aug.speed <= augment.SPEED_RANGE[1]
    assert info.frames == pytest.approx(sf.info(clip).frames / aug.speed, rel=0.01)  # speed changes the duration


def test_seed_and_copy_change_the_augmentation(clip, tmp_path):
    paths = {augment.augment_clip(clip, tmp_path, seed=s, copy=c)[0] for s in (0, 1) for c in (0, 1)}
    assert len(paths) == 4
    draws = [augment.augmentation_for("x", 0, c) for c in range(60)]
    assert {("noise" if d.snr_db is not None else "") + ("reverb" if d.reverberance is not None else "") for d in draws} \
        == {"noise", "reverb", "noisereverb"}


def test_cached_second_call_does_not_recompute(clip, tmp_path, monkeypatch):
    path, _ = augment.augment_clip(clip, tmp_path, seed=0)
    before = path.stat().st_mtime_ns

    def boom(*_a, **_k):
        raise AssertionError("recomputed a cached clip")

    monkeypatch.setattr(augment, "apply", boom)
    again, _ = augment.augment_clip(clip, tmp_path, seed=0)
    assert again == path and path.stat().st_mtime_ns == before
    assert augment.augment_clips([clip], tmp_path, seed=0)[0][0] == path


def test_cache_name_depends_on_source_params_and_version(clip, monkeypatch):
    aug = augment.augmentation_for("h", 0)
    name = augment.augmented_path(Path("c"), "h", aug)
    assert augment.augmented_path(Path("c"), "h2", aug) != name
    assert augment.augmented_path(Path("c"), "h", augment.Augmentation(speed=aug.speed + 0.01)) != name
    monkeypatch.setattr(augment, "AUGMENT_VERSION", augment.AUGMENT_VERSION + 1)
    assert augment.augmented_path(Path("c"), "h", aug) != name


def test_noise_at_the_requested_snr():
    x = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32)
    for colour in augment.NOISE_COLOURS:
        y = augment.add_noise(x, 10.0, colour, seed=1)
        snr = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
        assert snr == pytest.approx(10.0, abs=0.01)


def test_missing_and_corrupt_clips_raise_naming_the_clip(tmp_path):
    missing = tmp_path / "nope.flac"
    with pytest.raises(augment.AugmentError, match="nope.flac"):
        augment.augment_clip(missing, tmp_path / "cache")
    corrupt = tmp_path / "corrupt.flac"
    corrupt.write_bytes(b"fLaC" + b"\x00garbage" * 50)
    with pytest.raises(augment.AugmentError, match="corrupt.flac"):
        augment.augment_clip(corrupt, tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_sox_failure_raises_naming_the_clip(clip):
    with pytest.raises(augment.AugmentError, match=r"sox failed on clip .*clip\.flac"):
        augment.apply(clip, augment.Augmentation(speed=-1.0))


def test_extra_training_sentences_deterministic_train_only_and_order_free():
    from xmodal_server.align.corpus import Sentence
    from xmodal_server.align.data import extra_train_sentences

    corpus = [Sentence(f"question number {i}", "faq-question", f"g{i}", ("train", "val", "test")[i % 3], f"r{i}")
              for i in range(90)] + [Sentence("an answer", "faq-answer", "g0", "train", "r0")]
    pick = extra_train_sentences(corpus, 10)
    assert len(pick) == 10 and all(s.split == "train" and s.source == "faq-question" for s in pick)
    assert extra_train_sentences(list(reversed(corpus)), 10) == pick  # independent of corpus order
    assert extra_train_sentences(corpus, 5) == pick[:5]  # a smaller M is a prefix: same clips, same caches
    assert extra_train_sentences(corpus, 10, seed=1) != pick
    with pytest.raises(ValueError, match="kind"):
        from xmodal_server.align.data import extra_train_speech

        extra_train_speech(corpus, None, Path("."), "shout", 3)
