"""Audio bytes -> float32 mono 16 kHz in [-1, 1], refusing anything malformed, too long or too short.

Decoding uses soundfile (libsndfile) only: ``torchaudio.load`` needs torchcodec, which we do not ship.
torchaudio is used for resampling alone.
"""
from __future__ import annotations

import io
import math
import numbers
import re

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from ..errors import InvalidInput
from . import MediaLimits

TARGET_SAMPLE_RATE = 16000  # what every speech encoder expects
# libsndfile also reads AIFF, MP3, CAF, VOC, ... We accept only the documented containers: the
# contract stays small and rarely-used decoders are not exposed to untrusted bytes.
_FILE_FORMATS = {"WAV": "WAV", "WAVEX": "WAV", "RF64": "WAV", "FLAC": "FLAC", "OGG": "OGG"}
_SEND_INSTEAD = "send WAV, FLAC or OGG (Vorbis/Opus), or raw 16-bit PCM with its sample rate"
# torchaudio's sinc resampler builds a kernel of about (16000/g) x (rate/g) values, g = gcd(rate, 16000).
# Common rates (8k, 11.025k, 22.05k, 44.1k, 48k, 96k) stay under ~300k; an odd rate such as 47999 Hz
# would need ~770M (3 GB, seconds of CPU). Above this bound we resample from the nearest multiple of
# 100 Hz instead (g >= 100): a pitch/tempo error under 0.7%, irrelevant to speech features.
_MAX_RESAMPLE_KERNEL = 1_000_000
_BLOCK_SAMPLES = 1 << 20  # decode in blocks of ~1M samples (all channels): bounded peak memory


def _check_size(data: bytes, limits: MediaLimits) -> None:
    if not data:
        raise InvalidInput(f"audio is empty (0 bytes); {_SEND_INSTEAD}")
    if len(data) > limits.max_audio_bytes:
        raise InvalidInput(
            f"audio is {len(data)} bytes, more than the limit {limits.max_audio_bytes}; "
            f"send at most {limits.max_audio_seconds:g} s, compressed (FLAC/OGG) if needed"
        )


def _reason(e: Exception) -> str:
    # libsndfile messages read "Error opening <_io.BytesIO object at 0x...>: <reason>"; keep the reason.
    return re.sub(r"^(Error opening )?<[^>]*>: ", "", str(e)).strip() or type(e).__name__


def _is_int(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _too_long(seconds: float, limits: MediaLimits) -> InvalidInput:
    return InvalidInput(
        f"audio is {seconds:.2f} s long, more than the limit {limits.max_audio_seconds:g} s; "
        "cut it into shorter clips"
    )


def decode_audio(data: bytes, limits: MediaLimits) -> np.ndarray:
    """Decode a WAV/FLAC/OGG file to float32 mono 16 kHz in [-1, 1]."""
    _check_size(data, limits)
    try:
        f = sf.SoundFile(io.BytesIO(data))  # parses the header only
    except Exception as e:  # LibsndfileError mostly; anything from a hostile header is bad input
        raise InvalidInput(
            f"audio could not be decoded: not a WAV, FLAC or OGG file (soundfile: {_reason(e)}); "
            "send raw PCM with its sample rate instead"
        ) from None
    with f:
        kind = _FILE_FORMATS.get(f.format)
        if kind is None:
            raise InvalidInput(f"audio format {f.format} is not accepted; {_SEND_INSTEAD}")
        rate, channels = f.samplerate, f.channels
        lo, hi = limits.file_sample_rates
        if not lo <= rate <= hi:
            raise InvalidInput(f"audio sample rate {rate} Hz is outside {lo}-{hi} Hz; resample it")
        if channels < 1:
            raise InvalidInput(f"audio has {channels} channels; send at least one")
        # Refuse from the header before decoding anything ...
        max_frames = math.floor(limits.max_audio_seconds * rate)
        if f.frames > max_frames:
            raise _too_long(f.frames / rate, limits)
        try:
            # ... and never decode more than the limit (+1 frame, to notice a header that lied).
            # Channels are averaged per block so a many-channel file never sits in memory whole.
            blocks = [
                b.mean(axis=1, dtype=np.float32)
                for b in f.blocks(
                    blocksize=max(1024, _BLOCK_SAMPLES // channels), dtype="float32",
                    always_2d=True, frames=max_frames + 1,
                )
            ]
        except Exception as e:
            raise InvalidInput(f"audio is truncated or corrupt ({kind}): {_reason(e)}; re-encode it") from None
    mono = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    return _finish(mono, rate, limits)


def decode_pcm_s16le(data: bytes, sample_rate: int, limits: MediaLimits, channels: int = 1) -> np.ndarray:
    """Raw little-endian int16 PCM (interleaved if ``channels`` > 1) -> float32 mono 16 kHz in [-1, 1]."""
    _check_size(data, limits)
    lo, hi = limits.pcm_sample_rates
    if not _is_int(sample_rate) or not lo <= sample_rate <= hi:
        raise InvalidInput(
            f"PCM sample rate must be an integer in {lo}-{hi} Hz, got {sample_rate!r}; "
            "resample it or send a WAV/FLAC/OGG file"
        )
    if not _is_int(channels) or not 1 <= channels <= 32:
        raise InvalidInput(f"PCM channel count {channels!r} is not between 1 and 32")
    sample_rate, channels = int(sample_rate), int(channels)
    if len(data) % 2:
        raise InvalidInput(
            f"PCM data has an odd number of bytes ({len(data)}); s16le samples are 2 bytes each"
        )
    if len(data) % (2 * channels):
        raise InvalidInput(
            f"PCM data ({len(data)} bytes) is not a whole number of {channels}-channel frames "
            f"({2 * channels} bytes each); check the channel count"
        )
    frames = len(data) // (2 * channels)
    if frames > limits.max_audio_seconds * sample_rate:  # before any conversion
        raise _too_long(frames / sample_rate, limits)
    pcm = np.frombuffer(data, dtype="<i2").reshape(frames, channels)
    mono = pcm.mean(axis=1, dtype=np.float32) / np.float32(32768.0)
    return _finish(mono, sample_rate, limits)


def _finish(mono: np.ndarray, rate: int, limits: MediaLimits) -> np.ndarray:
    """Shared tail: duration and finiteness checks on the source-rate signal, then resample to 16 kHz."""
    seconds = len(mono) / rate
    if len(mono) > limits.max_audio_seconds * rate:
        raise _too_long(seconds, limits)
    if seconds < limits.min_audio_seconds:
        raise InvalidInput(
            f"audio is {seconds:.3f} s long, shorter than the minimum {limits.min_audio_seconds:g} s; "
            "send a longer clip"
        )
    if not np.isfinite(mono).all():  # float WAV can carry NaN/inf; they would poison the features
        raise InvalidInput("audio contains NaN or infinite samples; send finite samples in [-1, 1]")
    if rate != TARGET_SAMPLE_RATE:
        g = math.gcd(rate, TARGET_SAMPLE_RATE)
        if (TARGET_SAMPLE_RATE // g) * (rate // g) > _MAX_RESAMPLE_KERNEL:
            rate = max(100, round(rate / 100) * 100)
        if rate != TARGET_SAMPLE_RATE:
            mono = AF.resample(torch.from_numpy(np.ascontiguousarray(mono)), rate, TARGET_SAMPLE_RATE).numpy()
    # Float files may exceed full scale and the sinc resampler overshoots slightly: clip to the contract.
    return np.ascontiguousarray(np.clip(mono, -1.0, 1.0), dtype=np.float32)
