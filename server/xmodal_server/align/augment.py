"""Seeded audio augmentation of cached clips (issue 3: a lever for the direct speech path, measured by
``docs/decisions/0003-speech-training-data.md``).

Each augmented clip is the source clip with, in this order, a speed change (sox ``speed``: tempo and pitch
together, factor 0.9–1.1, resampled back to 16 kHz), optionally reverberation (sox ``reverb``) and
optionally additive noise (white, pink or brown, made with numpy) at a chosen SNR. What is applied is drawn
per clip from a RNG seeded by (seed, source clip hash, copy number), so a rerun produces the same bytes.

The result is a 16 kHz mono 16-bit FLAC in a cache directory, named by a hash of (source clip hash,
augmentation parameters, :data:`AUGMENT_VERSION`); reruns skip what exists, writes are atomic.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

from .tts import SAMPLE_RATE, write_flac

AUGMENT_VERSION = 1  # part of the cache hash: bump when the augmentation changes its output
SPEED_RANGE = (0.9, 1.1)
SNR_RANGE_DB = (5.0, 20.0)
REVERBERANCE_RANGE = (20, 80)  # sox reverb "reverberance" (%)
ROOM_SCALE_RANGE = (30, 100)  # sox reverb "room-scale" (%)
NOISE_COLOURS = ("white", "pink", "brown")
KINDS = ("noise", "reverb", "noise+reverb")  # speed always; then one of these, uniformly
_TIMEOUT_S = 60


class AugmentError(RuntimeError):
    """A clip could not be augmented (unreadable input, sox missing or failing)."""


@dataclass(frozen=True)
class Augmentation:
    speed: float  # sox speed factor (1.0 = unchanged)
    reverberance: int | None = None  # sox reverb reverberance %, None = no reverb
    room_scale: int | None = None  # sox reverb room-scale %
    snr_db: float | None = None  # additive noise at this SNR, None = no noise
    noise: str = "white"  # noise colour
    noise_seed: int = 0

    def params(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def sox_effects(self) -> list[str]:
        fx = ["speed", f"{self.speed:.4f}", "rate", "-h", str(SAMPLE_RATE)]
        if self.reverberance is not None:
            # reverberance, HF damping, room scale, stereo depth, pre-delay (ms), wet gain (dB)
            fx += ["reverb", str(self.reverberance), "50", str(self.room_scale or 100), "0", "0", "0"]
        return fx + ["channels", "1"]


def source_hash(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as e:
        raise AugmentError(f"augment: cannot read clip {path}: {e}") from e


def draw(rng: np.random.Generator) -> Augmentation:
    """One augmentation: a speed factor, then noise, reverb or both (uniformly), parameters uniform."""
    speed = float(rng.uniform(*SPEED_RANGE))
    kind = KINDS[int(rng.integers(len(KINDS)))]
    reverberance = room = snr = None
    if "reverb" in kind:
        reverberance = int(rng.integers(REVERBERANCE_RANGE[0], REVERBERANCE_RANGE[1] + 1))
        room = int(rng.integers(ROOM_SCALE_RANGE[0], ROOM_SCALE_RANGE[1] + 1))
    colour, noise_seed = "white", 0
    if "noise" in kind:
        snr = float(rng.uniform(*SNR_RANGE_DB))
        colour = NOISE_COLOURS[int(rng.integers(len(NOISE_COLOURS)))]
        noise_seed = int(rng.integers(2**31))
    return Augmentation(round(speed, 4), reverberance, room, None if snr is None else round(snr, 2), colour, noise_seed)


def augmentation_for(src_hash: str, seed: int, copy: int = 0) -> Augmentation:
    """The augmentation of copy ``copy`` of the clip whose bytes hash to ``src_hash``."""
    digest = hashlib.sha256(f"{seed}\0{src_hash}\0{copy}".encode()).digest()
    return draw(np.random.default_rng(int.from_bytes(digest[:8], "little")))


def augmented_path(cache_dir: Path, src_hash: str, aug: Augmentation) -> Path:
    payload = json.dumps({"v": AUGMENT_VERSION, "source": src_hash, **aug.params()}, sort_keys=True)
    return Path(cache_dir) / f"{hashlib.sha256(payload.encode()).hexdigest()[:24]}.flac"


def _noise(n: int, colour: str, seed: int) -> np.ndarray:
    white = np.random.default_rng(seed).standard_normal(n)
    if colour == "white" or n < 2:
        return white
    spectrum = np.fft.rfft(white)
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    spectrum /= np.sqrt(f) if colour == "pink" else f  # 1/f or 1/f^2 power
    spectrum[0] = 0.0
    return np.fft.irfft(spectrum, n)


def add_noise(audio: np.ndarray, snr_db: float, colour: str, seed: int) -> np.ndarray:
    noise = _noise(len(audio), colour, seed)
    p_signal = float(np.mean(audio.astype(np.float64) ** 2))
    p_noise = float(np.mean(noise**2)) or 1.0
    return audio + noise * np.sqrt(p_signal / p_noise / 10 ** (snr_db / 10))


def apply(src: Path, aug: Augmentation) -> np.ndarray:
    """The augmented audio of the clip ``src``: float32 mono 16 kHz in [-1, 1]. Raises :class:`AugmentError`."""
    try:
        audio, rate = sf.read(src, dtype="float32", always_2d=True)
    except Exception as e:  # noqa: BLE001 - any decode failure is an unusable clip
        raise AugmentError(f"augment: cannot read clip {src}: {e}") from e
    if audio.size == 0:
        raise AugmentError(f"augment: clip {src} is empty")
    if shutil.which("sox") is None:
        raise AugmentError(f"augment: sox is not installed (needed for clip {src})")
    with tempfile.TemporaryDirectory(prefix="xmodal-augment-") as tmp:
        inp, out = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
        sf.write(inp, audio.mean(axis=1), rate, subtype="FLOAT")
        # -R: repeatable; -D: no dither (float output); -G: guard against clipping from reverb
        cmd = ["sox", "-R", "-D", "-G", "-q", inp, "-e", "floating-point", "-b", "32", out, *aug.sox_effects()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise AugmentError(f"augment: sox failed on clip {src}: {e}") from e
        if proc.returncode != 0 or not os.path.exists(out):
            raise AugmentError(f"augment: sox failed on clip {src} (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        try:
            y, out_rate = sf.read(out, dtype="float32", always_2d=True)
        except Exception as e:  # noqa: BLE001
            raise AugmentError(f"augment: unreadable sox output for clip {src}: {e}") from e
    if out_rate != SAMPLE_RATE or y.shape[0] == 0:
        raise AugmentError(f"augment: sox output for clip {src} is {out_rate} Hz, {y.shape[0]} samples")
    y = y.mean(axis=1)
    if aug.snr_db is not None:
        y = add_noise(y, aug.snr_db, aug.noise, aug.noise_seed)
    peak = float(np.max(np.abs(y)))
    if peak > 1.0:  # noise on a loud clip: scale, never clip
        y = y / peak
    return y.astype(np.float32)


def augment_clip(src: Path, cache_dir: Path, seed: int = 0, copy: int = 0) -> tuple[Path, Augmentation]:
    """Augment ``src`` (copy number ``copy``) into ``cache_dir``; returns (FLAC path, what was applied)."""
    h = source_hash(src)
    aug = augmentation_for(h, seed, copy)
    path = augmented_path(cache_dir, h, aug)
    if not path.exists():
        write_flac(path, apply(Path(src), aug))
    return path, aug


def augment_clips(sources: Sequence[Path], cache_dir: Path, seed: int = 0, copies: int = 1,
                  progress: bool = True) -> list[tuple[Path, Augmentation]]:
    """``copies`` augmented versions of each source clip, in order (source 0 copy 0, source 0 copy 1, ...)."""
    from tqdm import tqdm

    jobs = [(Path(s), c) for s in sources for c in range(copies)]
    return [augment_clip(s, cache_dir, seed, c) for s, c in tqdm(jobs, desc="augment (sox)", unit="clip", disable=not progress)]
